/* void conv3x3_c1_pixels(const int32_t *pad, const conv3x3_c1_t *c)
 * void conv3x3_c1_pixels32(const int32_t *pad, const conv3x3_c1_t *c)
 *
 * The 3x3 'same' convolution of ONE input channel (a first layer), every output channel of a pixel in turn:
 * out[p*co + k] = sat8((table[k][0] + sum_t table[k][1+t] * window_t(p)) >> shift), or, for the 32-bit
 * variant (dynamic scaling keeps the accumulators), out32[p*co + k] = table[k][0] + sum_t ... .
 * `pad` is the input sign-extended to int32 with a one-pixel zero border ((h+2) x (w+2) words), `table` holds
 * per output channel its bias (rounding term included) and its 9 weights as int32 (10 words). A window row
 * is one LDM of three words, the weights come by LDM too and MULS is single-cycle: 62 cycles per output
 * (9 products, the requantization and the store), 6.9 per multiply-accumulate. See conv3x3_c1.c.
 */
    .syntax unified
    .cpu cortex-m0plus
    .thumb
    .text

    /* r2 += window row (3 words from r0, which advances) . weights (3 words from r1, which advances) */
    .macro ROW first
    ldmia r0!, {r3, r4, r5}
    .if \first
    ldmia r1!, {r2, r6, r7}     /* bias, w0, w1 */
    .else
    ldmia r1!, {r6, r7}
    .endif
    muls r3, r6, r3
    muls r4, r7, r4
    adds r2, r2, r3
    adds r2, r2, r4
    ldmia r1!, {r6}
    muls r5, r6, r5
    adds r2, r2, r5
    .endm

    .macro PIXELS name, wide
    .global \name
    .type \name, %function
    .thumb_func
\name:
    push {r4, r5, r6, r7, lr}
    mov r4, r8
    mov r5, r9
    mov r6, r10
    mov r7, r11
    push {r4, r5, r6, r7}
    sub sp, #8                  /* [sp]: pixels left in this row, [sp+4]: rows left */
    ldr r2, [r1, #0]            /* w */
    ldr r3, [r1, #4]            /* h */
    str r3, [sp, #4]
    subs r4, r2, #1
    lsls r4, r4, #2
    mov r8, r4                  /* (w - 1) * 4: from the end of a window row to the start of the next */
    adds r4, r2, #2
    lsls r4, r4, #3
    adds r4, r4, #12
    rsbs r4, r4, #0
    mov r9, r4                  /* -(2 * (w + 2) * 4 + 12): from the end of the window back to its start */
    ldr r4, [r1, #12]
    mov r10, r4                 /* shift */
    ldr r4, [r1, #16]
    mov ip, r4                  /* out */
    ldr r4, [r1, #20]
    mov lr, r4                  /* table */
    ldr r5, [r1, #8]            /* co */
    movs r6, #40
    muls r5, r6, r5
    adds r4, r4, r5
    mov r11, r4                 /* end of table */
.Lrow\@:
    str r2, [sp, #0]
.Lpixel\@:
    mov r1, lr
.Lchannel\@:
    ROW 1
    add r0, r8
    ROW 0
    add r0, r8
    ROW 0
    add r0, r9
    .if \wide
    mov r3, ip
    stmia r3!, {r2}
    mov ip, r3
    .else
    mov r3, r10
    asrs r2, r3
    sxtb r3, r2
    cmp r3, r2
    bne .Lsaturate\@
.Lstore\@:
    mov r3, ip
    strb r2, [r3]
    adds r3, r3, #1
    mov ip, r3
    .endif
    cmp r1, r11
    bne .Lchannel\@
    adds r0, r0, #4             /* next window */
    ldr r3, [sp, #0]
    subs r3, r3, #1
    str r3, [sp, #0]
    bne .Lpixel\@
    adds r0, r0, #8             /* past the border columns */
    ldr r2, [sp, #4]
    subs r2, r2, #1
    str r2, [sp, #4]
    beq .Ldone\@
    mov r2, r8                  /* w again: (w - 1) * 4 / 4 + 1 */
    lsrs r2, r2, #2
    adds r2, r2, #1
    b .Lrow\@
    .if \wide == 0
.Lsaturate\@:                   /* 127 if positive, -128 if negative */
    asrs r3, r2, #31
    movs r2, #127
    eors r2, r3
    b .Lstore\@
    .endif
.Ldone\@:
    add sp, #8
    pop {r4, r5, r6, r7}
    mov r8, r4
    mov r9, r5
    mov r10, r6
    mov r11, r7
    pop {r4, r5, r6, r7, pc}
    .size \name, . - \name
    .endm

    PIXELS conv3x3_c1_pixels, 0
    PIXELS conv3x3_c1_pixels32, 1
