/* int32_t dot_s8_words(const int8_t *w, const int8_t *x, int32_t nwords)
 *
 * The int8 inner product of 4*nwords elements from two word-aligned arrays, hand-scheduled for the
 * Cortex-M0+: LDM brings two words of each operand (3 cycles), every byte is sign-extended in one or two ALU
 * cycles, MULS is single-cycle on the RP2040 and the sum lives in ip. The loop does four words (16 products)
 * per test: 95 cycles, 5.94 per multiply-accumulate; gcc's code for the same C needs about 10. An odd word
 * and an odd word pair are done first, so any count works.
 */
    .syntax unified
    .cpu cortex-m0plus
    .thumb
    .text

    /* ip += sum of the four signed byte products of words \w and \x; \w and \x are destroyed. */
    .macro WORD w, x, t1, t2
    sxtb \t1, \w
    sxtb \t2, \x
    muls \t1, \t2, \t1
    add ip, \t1
    lsls \t1, \w, #16
    asrs \t1, \t1, #24
    lsls \t2, \x, #16
    asrs \t2, \t2, #24
    muls \t1, \t2, \t1
    add ip, \t1
    lsls \t1, \w, #8
    asrs \t1, \t1, #24
    lsls \t2, \x, #8
    asrs \t2, \t2, #24
    muls \t1, \t2, \t1
    add ip, \t1
    asrs \w, \w, #24
    asrs \x, \x, #24
    muls \w, \x, \w
    add ip, \w
    .endm

    /* ip += the products of the words from r0 up to lr (end) with those from r1; both pointers advance.
     * On entry N says whether the word count is odd (one word first), then an odd word pair, then four
     * words per loop turn. r2-r7 are destroyed. */
    .macro DOT_ROW
    bpl 1f                   /* even count: no single word first */
    ldmia r0!, {r4}
    ldmia r1!, {r6}
    WORD r4, r6, r5, r7
1:  mov r3, lr
    subs r3, r3, r0          /* bytes left, a multiple of 8 */
    lsls r3, r3, #28         /* bit 3 (an odd number of word pairs) to N */
    bpl 2f
    ldmia r0!, {r4, r5}
    ldmia r1!, {r6, r7}
    WORD r4, r6, r2, r3
    WORD r5, r7, r2, r3
2:  cmp r0, lr
    beq 4f
3:  ldmia r0!, {r4, r5}
    ldmia r1!, {r6, r7}
    WORD r4, r6, r2, r3
    WORD r5, r7, r2, r3
    ldmia r0!, {r4, r5}
    ldmia r1!, {r6, r7}
    WORD r4, r6, r2, r3
    WORD r5, r7, r2, r3
    cmp r0, lr
    bne 3b
4:
    .endm

    .align 2
    .global dot_s8_words
    .type dot_s8_words, %function
    .thumb_func
dot_s8_words:
    push {r4, r5, r6, r7, lr}
    movs r3, #0
    mov ip, r3
    lsls r3, r2, #2
    adds r3, r0, r3
    mov lr, r3               /* end of w */
    lsls r2, r2, #31
    DOT_ROW
    mov r0, ip
    pop {r4, r5, r6, r7, pc}
    .size dot_s8_words, . - dot_s8_words

/* void dot_s8_channel(const int8_t *row, const int8_t *col, const dot_channel_t *c)   (dot.h)
 *
 * One output channel of a convolution over c->npix unrolled windows laid end to end in col:
 * out[p * stride] = sat8((bias + dot(row, window p)) >> shift). The pixel loop stays in registers
 * (row start r8, out r9, out end r10, word-count bits r11, row end lr; bias, shift and stride on the stack),
 * which saves the call, the register saves and the C loop around dot_s8_words for every output.
 */
    .align 2
    .global dot_s8_channel
    .type dot_s8_channel, %function
    .thumb_func
dot_s8_channel:
    push {r4, r5, r6, r7, lr}
    mov r4, r8
    mov r5, r9
    mov r6, r10
    mov r7, r11
    push {r4, r5, r6, r7}
    sub sp, #12
    mov r8, r0               /* row */
    ldr r3, [r2, #0]         /* words */
    lsls r4, r3, #30
    mov r11, r4              /* bit 0 of words at bit 30 */
    lsls r3, r3, #2
    adds r3, r0, r3
    mov lr, r3               /* end of row */
    ldr r3, [r2, #8]
    str r3, [sp, #0]         /* bias, rounding term included */
    ldr r3, [r2, #12]
    str r3, [sp, #4]         /* shift */
    ldr r3, [r2, #16]
    str r3, [sp, #8]         /* stride */
    ldr r4, [r2, #20]
    mov r9, r4               /* out */
    ldr r5, [r2, #4]         /* npix >= 1 */
    muls r5, r3, r5
    adds r4, r4, r5
    mov r10, r4              /* end of out */
.Lpixel:
    mov r0, r8
    ldr r2, [sp, #0]
    mov ip, r2
    mov r2, r11
    lsls r2, r2, #1
    DOT_ROW
    mov r2, ip
    ldr r3, [sp, #4]
    asrs r2, r3
    movs r3, #127
    cmp r2, r3
    ble 5f
    movs r2, r3
5:  mvns r3, r3              /* -128 */
    cmp r2, r3
    bge 6f
    movs r2, r3
6:  mov r3, r9
    strb r2, [r3]
    ldr r2, [sp, #8]
    adds r3, r3, r2
    mov r9, r3
    cmp r3, r10
    beq 7f
    b .Lpixel
7:  add sp, #12
    pop {r4, r5, r6, r7}
    mov r8, r4
    mov r9, r5
    mov r10, r6
    mov r11, r7
    pop {r4, r5, r6, r7, pc}
    .size dot_s8_channel, . - dot_s8_channel
