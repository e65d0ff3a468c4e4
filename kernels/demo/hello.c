/* Demonstration firmware: newlib printf over semihosting, a little arithmetic, and an exit code. */
#include <stdio.h>

static int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

int main(void)
{
    printf("Hello from the emulated Raspberry Pi Pico!\n");
    for (int i = 0; i < 10; i++) printf("fib(%d) = %d\n", i, fib(i));
    return 0;
}
