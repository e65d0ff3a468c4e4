/* Harness for the MAC-loop table of `m0sim run cost`: one PRIOT layer forward per call, on buffers the host
 * fills, so the profiler can tell what a conv or dense layer costs per multiply-accumulate. Linked with the
 * PRIOT kernels (kernels/priot/); the buffers hold the largest layer the host asks for (it checks sizes). */
#include <stdint.h>
#include "layers.h"

#define ALIGNED __attribute__((aligned(4)))
int8_t mac_x[28 * 28 * 16] ALIGNED;
int8_t mac_w[16 * 1024] ALIGNED;
uint8_t mac_mask[16 * 1024 / 8] ALIGNED;
int32_t mac_bias[64];
int8_t mac_out[28 * 28 * 16] ALIGNED;
int8_t mac_col[28 * 28 * 72] ALIGNED;
int8_t mac_row[1024] ALIGNED;

int32_t mac_conv(int32_t h, int32_t w, int32_t cin, int32_t cout, int32_t masked)
{
    conv_dims_t d = {h, w, cin, cout};
    /* as the firmware: one output row of unrolled windows, or the one-channel loop's scratch */
    int32_t col_bytes = cin == 1 ? (int32_t)sizeof mac_col : w * conv3x3_row_bytes(cin);
    conv3x3_forward(mac_x, &d, mac_w, masked ? mac_mask : 0, 0, mac_bias, 7, mac_out, 0, mac_col, col_bytes, mac_row);
    return mac_out[0];
}

int32_t mac_dense(int32_t cin, int32_t cout, int32_t masked)
{
    dense_forward(mac_x, cin, cout, mac_w, masked ? mac_mask : 0, 0, mac_bias, 7, mac_out, 0, mac_row);
    return mac_out[0];
}

int main(void) { return 0; }
