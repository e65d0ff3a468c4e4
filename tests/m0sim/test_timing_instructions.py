"""Hand-written Thumb, one function per instruction class: cycles must equal the Cortex-M0+ TRM's.

Each function ends in `bx lr` (2 cycles), counted in the expected totals. Calls run twice so the XIP cache
is warm (the first call pays the flash misses) and the second must show no miss.
"""

import pytest

from m0sim.machine import Machine

FUNCS = {
    # name: (body, args, expected cycles, expected instructions)
    "t_alu": ("adds r0, r0, r1\n lsls r0, r0, #2\n eors r0, r1\n bx lr", (1, 2), 3 + 2, 4),
    "t_muls": ("muls r0, r1, r0\n bx lr", (6, 7), 1 + 2, 2),
    "t_ldr_sram": ("ldr r0, [r1]\n bx lr", (0, "sram"), 2 + 2, 2),
    "t_str_sram": ("str r0, [r1]\n strb r0, [r1, #1]\n strh r0, [r1, #2]\n bx lr", (0, "sram"), 6 + 2, 4),
    "t_ldr_sio": ("ldr r0, [r1]\n bx lr", (0, 0xD0000000), 1 + 2, 2),
    "t_push_pop": ("push {r4, r5, r6, r7}\n pop {r4, r5, r6, r7}\n bx lr", (), 5 + 5 + 2, 3),
    "t_pop_pc": ("push {r4, lr}\n pop {r4, pc}", (), 3 + (3 + 2), 2),
    "t_ldm_stm": ("stmia r1!, {r2, r3}\n subs r1, #8\n ldmia r1!, {r2, r3}\n bx lr", (0, "sram"), 3 + 1 + 3 + 2, 4),
    "t_b": ("b 1f\n nop\n1: bx lr", (), 2 + 2, 2),
    "t_bl": ("push {lr}\n bl t_leaf\n pop {pc}", (), 2 + 3 + 2 + 4, 4),
    "t_blx": ("push {lr}\n blx r1\n pop {pc}", (0, "leaf"), 2 + 2 + 2 + 4, 4),
    "t_mov_pc": ("adds r0, #1\n mov pc, lr", (0,), 1 + 2, 2),
    "t_barriers": ("dmb\n dsb\n isb\n bx lr", (), 9 + 2, 4),
    "t_sysreg": ("mrs r0, primask\n msr primask, r0\n bx lr", (), 6 + 2, 3),
    "t_cond_not_taken": ("cmp r0, #0\n beq 1f\n adds r0, #1\n adds r0, #1\n1: bx lr", (1,), 1 + 1 + 2 + 2, 5),
    "t_cond_taken": ("cmp r0, #0\n beq 1f\n adds r0, #1\n adds r0, #1\n1: bx lr", (0,), 1 + 2 + 2, 3),
}


def source() -> str:
    parts = [".syntax unified", ".thumb", ".text", ".align 2",
             ".global t_leaf", ".type t_leaf, %function", ".thumb_func", "t_leaf: bx lr"]
    for name, (body, *_rest) in FUNCS.items():
        parts += [".align 2", f".global {name}", f".type {name}, %function", ".thumb_func", f"{name}: {body}"]
    parts += [".global t_loop", ".type t_loop, %function", ".thumb_func",
              "t_loop: movs r1, #0\n2: adds r1, #1\n cmp r1, r0\n bne 2b\n bx lr"]
    asm = "\\n".join(p.replace("\n", "\\n") for p in parts)
    return f'__asm__("{asm}\\n");\nunsigned scratch[4];\nint main(void) {{ return 0; }}\n'


@pytest.fixture(scope="module")
def machine(firmware):
    return Machine(firmware(source()))


def _resolve(machine, args):
    sym = machine.program.symbol
    table = {"sram": sym("scratch").addr, "leaf": sym("t_leaf").addr | 1}
    return [table.get(a, a) if isinstance(a, str) else a for a in args]


@pytest.mark.parametrize("name", list(FUNCS))
def test_instruction_class_cycles(machine, name):
    _body, args, cycles, insns = FUNCS[name]
    args = _resolve(machine, args)
    machine.call(name, *args)  # warm the XIP cache
    machine.call(name, *args)
    st = machine.last_stats
    assert st.xip_misses == 0
    assert (st.cycles, st.instructions) == (cycles, insns)


def test_taken_branch_is_counted(machine):
    machine.call("t_cond_taken", 0)
    assert machine.last_stats.taken_branches == 1
    machine.call("t_cond_not_taken", 1)
    assert machine.last_stats.taken_branches == 0


@pytest.mark.parametrize("n", [1, 2, 1000, 54321])
def test_loop_totals_exact(machine, n):
    machine.call("t_loop", n)
    machine.call("t_loop", n)
    st = machine.last_stats
    # movs; n x (adds, cmp, bne); bx: bne taken n-1 times (2 cycles), not taken once (1)
    assert st.instructions == 3 * n + 2
    assert st.cycles == 1 + n * 3 + (n - 1) + 2
    assert st.taken_branches == n - 1


def test_profile_attributes_every_cycle(machine):
    machine.call("t_bl")
    machine.call("t_bl")
    by_name = {f.name: f for f in machine.last_stats.functions}
    assert by_name["t_bl"].cycles == 2 + 3 + 4 and by_name["t_leaf"].cycles == 2
    assert by_name["t_leaf"].calls == 1
    assert sum(f.cycles for f in machine.last_stats.functions) == machine.last_stats.cycles
