-- lib/pack16.lua: fp32 pairs packed into one register of two fp16 or bf16 values and back,
-- for the kernels that move 16-bit I/O eight samples at a time (monarch_tc's operands,
-- direct's loads and stores). Names the text uses: op (the dtype, fp16 or bf16) and cvt (its
-- PTX spelling); u32 must be declared.
local tpl = require "lib.tpl"

local pack16 = {}

pack16.functions = tpl.piece([==[
// Two fp32 values as one register of two ${op} operands (lo in the low half).
static __device__ __forceinline__ u32 pack2(float lo, float hi) {
  u32 r;
  asm("cvt.rn.${cvt}x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}
static __device__ __forceinline__ float2 unpack2(u32 v) {
@ if op == "fp16" then
  float lo, hi;
  asm("{.reg .b16 l, h;\n\tmov.b32 {l, h}, %2;\n\tcvt.f32.f16 %0, l;\n\tcvt.f32.f16 %1, h;}"
      : "=f"(lo), "=f"(hi) : "r"(v));
  return float2{lo, hi};
@ else
  return float2{__uint_as_float(v << 16), __uint_as_float(v & 0xffff0000u)};
@ end
}
]==], "=templates/lib/pack16.lua (functions)")

return pack16
