"""op_dispatch.py: what defining a torch op costs per call, on the CPU (no GPU needed): a
trivial kernel (x.new_empty(4)) as a plain call, a torch.library.custom_op, a
torch.library.Library definition, and that with register_fake and register_autograd, with
and without an input requiring grad. Median-free: the mean of 20,000 calls after 1,000.

    python3 bench/op_dispatch.py
"""
import time

import torch


def main():
    @torch.library.custom_op("opbench::a", mutates_args=())
    def a(x: torch.Tensor) -> torch.Tensor:
        return x.new_empty(4)

    def impl(x):
        return x.new_empty(4)

    lib = torch.library.Library("opbench2", "DEF")
    lib.define("b(Tensor x) -> Tensor")
    lib.impl("b", impl, "CPU")
    lib3 = torch.library.Library("opbench3", "DEF")
    lib3.define("c(Tensor x) -> Tensor")
    lib3.impl("c", impl, "CPU")
    torch.library.register_fake("opbench3::c")(lambda x: x.new_empty(4))
    torch.library.register_autograd("opbench3::c", lambda ctx, g: g,
                                    setup_context=lambda ctx, inputs, output: None)
    x, xg = torch.empty(4), torch.empty(4, requires_grad=True)

    def us(fn, arg, n=20000):
        for _ in range(1000):
            fn(arg)
        t0 = time.perf_counter()
        for _ in range(n):
            fn(arg)
        return (time.perf_counter() - t0) / n * 1e6

    print(f"torch {torch.__version__}, CPU, microseconds a call")
    print(f"new_empty alone                        {us(impl, x):6.2f}")
    print(f"custom_op                              {us(a, x):6.2f}")
    print(f"Library definition                     {us(torch.ops.opbench2.b.default, x):6.2f}")
    print(f"Library + register_fake/_autograd      {us(torch.ops.opbench3.c.default, x):6.2f}")
    print(f"custom_op, input requires grad         {us(a, xg):6.2f}")
    print(f"Library + autograd, input requires grad {us(torch.ops.opbench3.c.default, xg):5.2f}")


if __name__ == "__main__":
    main()
