/* Demonstration firmware for `m0sim gdbserver` (README tour): two small functions and a global to watch. */
#include <stdio.h>

int total;

__attribute__((noinline)) int scale(int x)
{
    int doubled = x * 2;
    return doubled + 1;
}

__attribute__((noinline)) int work(int n)
{
    int acc = 0;
    for (int i = 0; i < n; i++)
        acc += scale(i);
    return acc;
}

int main(void)
{
    total = work(5);
    printf("total = %d\n", total);
    return total;
}
