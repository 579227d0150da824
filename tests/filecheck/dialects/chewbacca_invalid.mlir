// RUN: XDSL_VERIFY_DIAG

// Field values outside the ISA's range, and addresses outside the memory of the machine named by the
// module's chewbacca.machine attribute (the default ChewBaccaNN model without one).

func.func @field_range() {
  chewbacca.conv {fmem = 0 : i64, wmem = 0 : i64, acc = 0 : i64, accumulate = 2 : i64}
  func.return
}
// CHECK: Operation does not verify: chewbacca.conv: field 'accumulate' = 2 out of range 0..1

// -----

func.func @enum_value() {
  chewbacca.dma.ld {mem = "sram", dram = 0 : i64, chip = 0 : i64, length = 2 : i64}
  func.return
}
// CHECK: Operation does not verify: chewbacca.dma.ld: field 'mem' = 'sram' is not one of fmem, wmem, tmem, acc

// -----

func.func @outside_fmem() {
  chewbacca.conv {fmem = 40000 : i64, wmem = 0 : i64, acc = 0 : i64, accumulate = 0 : i64}
  func.return
}
// CHECK: Operation does not verify: chewbacca.conv: field 'fmem' = 0x9c40 is outside fmem (32768 words on 'chewbaccann')

// -----

// DMA.LD's chip address lies in the memory its `mem` field selects.
func.func @outside_selected_memory() {
  chewbacca.dma.ld {mem = "tmem", dram = 0 : i64, chip = 1024 : i64, length = 2 : i64}
  func.return
}
// CHECK: Operation does not verify: chewbacca.dma.ld: field 'chip' = 0x400 is outside tmem (1024 words on 'chewbaccann')

// -----

// Valid on the default machine, outside the quarter machine's 8192-word FMEM.
builtin.module attributes {chewbacca.machine = #chewbacca.machine<"quarter", "675100c2cc4203d73e10db9a75ac743339a95b15ed4fe284579e692e9da0c7ea">} {
  func.func @quarter() {
    chewbacca.thresh {acc = 0 : i64, fmem = 10000 : i64, tmem = 0 : i64, c0 = 0 : i64}
    func.return
  }
}
// CHECK: Operation does not verify: chewbacca.thresh: field 'fmem' = 0x2710 is outside fmem (8192 words on 'quarter')

// -----

func.func @data_outside_dram() {
  chewbacca.data {label = "w", dram = 8388607 : i64, data = "0f00f0ff"}
  func.return
}
// CHECK: Operation does not verify: chewbacca.data: DRAM words 0x7fffff..0x800000 lie outside DRAM (8388608 words)

// -----

func.func @payload() {
  chewbacca.host_step {step = 0 : i64, payload = "{\22reason\22:\22r\22}"}
  func.return
}
// CHECK: Operation does not verify: chewbacca.host_step: payload needs exactly the keys inputs, onnx, outputs, reason (got ['reason'])

// -----

func.func @input_dtype(%x: tensor<1x4xf32>) {
  chewbacca.input %x {tensor = "x", dram = 0 : i64, shape = [4 : i64], dtype = "int8"} : tensor<1x4xf32>
  func.return
}
// CHECK: Operation does not verify: chewbacca.input: tensor 'x': dtype must be one of bits, int16, f32

// -----

func.func @output_outside_dram() -> tensor<1x4xf32> {
  %y = chewbacca.output {tensor = "y", dram = 8388606 : i64, shape = [4 : i64], dtype = "f32"} : tensor<1x4xf32>
  func.return %y : tensor<1x4xf32>
}
// CHECK: Operation does not verify: chewbacca.output: DRAM words 0x7ffffe..0x800005 lie outside DRAM (8388608 words)

// -----

func.func @probe_in_wmem() {
  chewbacca.probe {tensor = "7", mem = "wmem", addr = 0 : i64, shape = [16 : i64], dtype = "int16"}
  func.return
}
// CHECK: Operation does not verify: chewbacca.probe: a probed tensor lies in dram, fmem or acc, not wmem
