// RUN: XDSL_ROUNDTRIP
// RUN: XDSL_GENERIC_ROUNDTRIP

// One op per instruction (fields as properties, enums by name), the program's data, host steps and
// its input / output tensors, printed back unchanged after a trip through the generic form.
builtin.module attributes {chewbacca.machine = ""} {
  func.func @program(%x: tensor<1x16x2x4xf32>) -> tensor<1x2x2x4xi32> {
    chewbacca.input %x {tensor = "x", dram = 100 : i64, shape = [16 : i64, 2 : i64, 4 : i64], dtype = "f32"} : tensor<1x16x2x4xf32>
    chewbacca.host_step {step = 0 : i64, payload = "{\22inputs\22:[{\22dram\22:100,\22dtype\22:\22f32\22,\22name\22:\22x\22,\22shape\22:[16,2,4]}],\22onnx\22:\22\22,\22outputs\22:[{\22dram\22:400,\22dtype\22:\22bits\22,\22name\22:\22y\22,\22shape\22:[16,2,4],\22zero\22:\22plus\22}],\22reason\22:\22r\22}"}
    chewbacca.host {step = 0 : i64}
    chewbacca.data {label = "w", dram = 0 : i64, data = "0f00f0ff"}
    chewbacca.cfg.dma {count = 2 : i64, dram_stride = 8 : i64, chip_stride = -4 : i64}
    chewbacca.dma.ld {mem = "wmem", dram = 0 : i64, chip = 0 : i64, length = 2 : i64}
    chewbacca.dma.st {mem = "acc", dram = 500 : i64, chip = 0 : i64, length = 4 : i64}
    chewbacca.sync
    chewbacca.cfg.in {in_h = 2 : i64, in_w = 4 : i64, in_c = 16 : i64}
    chewbacca.cfg.buf {buf_row0 = 0 : i64, buf_rows = 2 : i64}
    chewbacca.cfg.k {kh = 3 : i64, kw = 3 : i64, stride = 1 : i64, dilation = 1 : i64, pad_top = 1 : i64, pad_left = 1 : i64, pad_mode = "pos"}
    chewbacca.cfg.out {out_h = 2 : i64, out_w = 4 : i64, obuf_rows = 2 : i64}
    chewbacca.cfg.tile {row0 = 0 : i64, nrows = 2 : i64, oc_count = 2 : i64}
    chewbacca.conv {fmem = 0 : i64, wmem = 0 : i64, acc = 0 : i64, accumulate = 1 : i64}
    chewbacca.thresh {acc = 0 : i64, fmem = 16 : i64, tmem = 0 : i64, c0 = 3 : i64}
    chewbacca.pool.b {src = 0 : i64, dst = 32 : i64}
    chewbacca.pool.i {src = 0 : i64, dst = 64 : i64}
    chewbacca.add {a = 0 : i64, b = 16 : i64, dst = 32 : i64}
    %y = chewbacca.output {tensor = "y", dram = 500 : i64, shape = [2 : i64, 2 : i64, 4 : i64], dtype = "int16"} : tensor<1x2x2x4xi32>
    chewbacca.end
    func.return %y : tensor<1x2x2x4xi32>
  }
}

// CHECK:       builtin.module attributes {chewbacca.machine = ""} {
// CHECK-LABEL: func.func @program
// CHECK-NEXT:    chewbacca.input %x {tensor = "x", dram = 100 : i64, shape = [16 : i64, 2 : i64, 4 : i64], dtype = "f32"} : tensor<1x16x2x4xf32>
// CHECK-NEXT:    chewbacca.host_step {step = 0 : i64, payload = "{\"inputs\":[{\"dram\":100,\"dtype\":\"f32\",\"name\":\"x\",\"shape\":[16,2,4]}],\"onnx\":\"\",\"outputs\":[{\"dram\":400,\"dtype\":\"bits\",\"name\":\"y\",\"shape\":[16,2,4],\"zero\":\"plus\"}],\"reason\":\"r\"}"}
// CHECK-NEXT:    chewbacca.host {step = 0 : i64}
// CHECK-NEXT:    chewbacca.data {label = "w", dram = 0 : i64, data = "0f00f0ff"}
// CHECK-NEXT:    chewbacca.cfg.dma {count = 2 : i64, dram_stride = 8 : i64, chip_stride = -4 : i64}
// CHECK-NEXT:    chewbacca.dma.ld {mem = "wmem", dram = 0 : i64, chip = 0 : i64, length = 2 : i64}
// CHECK-NEXT:    chewbacca.dma.st {mem = "acc", dram = 500 : i64, chip = 0 : i64, length = 4 : i64}
// CHECK-NEXT:    chewbacca.sync
// CHECK-NEXT:    chewbacca.cfg.in {in_h = 2 : i64, in_w = 4 : i64, in_c = 16 : i64}
// CHECK-NEXT:    chewbacca.cfg.buf {buf_row0 = 0 : i64, buf_rows = 2 : i64}
// CHECK-NEXT:    chewbacca.cfg.k {kh = 3 : i64, kw = 3 : i64, stride = 1 : i64, dilation = 1 : i64, pad_top = 1 : i64, pad_left = 1 : i64, pad_mode = "pos"}
// CHECK-NEXT:    chewbacca.cfg.out {out_h = 2 : i64, out_w = 4 : i64, obuf_rows = 2 : i64}
// CHECK-NEXT:    chewbacca.cfg.tile {row0 = 0 : i64, nrows = 2 : i64, oc_count = 2 : i64}
// CHECK-NEXT:    chewbacca.conv {fmem = 0 : i64, wmem = 0 : i64, acc = 0 : i64, accumulate = 1 : i64}
// CHECK-NEXT:    chewbacca.thresh {acc = 0 : i64, fmem = 16 : i64, tmem = 0 : i64, c0 = 3 : i64}
// CHECK-NEXT:    chewbacca.pool.b {src = 0 : i64, dst = 32 : i64}
// CHECK-NEXT:    chewbacca.pool.i {src = 0 : i64, dst = 64 : i64}
// CHECK-NEXT:    chewbacca.add {a = 0 : i64, b = 16 : i64, dst = 32 : i64}
// CHECK-NEXT:    %y = chewbacca.output {tensor = "y", dram = 500 : i64, shape = [2 : i64, 2 : i64, 4 : i64], dtype = "int16"} : tensor<1x2x2x4xi32>
// CHECK-NEXT:    chewbacca.end
// CHECK-NEXT:    func.return %y : tensor<1x2x2x4xi32>

// CHECK-GENERIC:      "chewbacca.input"(%x) <{tensor = "x", dram = 100 : i64, shape = [16 : i64, 2 : i64, 4 : i64], dtype = "f32"}> : (tensor<1x16x2x4xf32>) -> ()
// CHECK-GENERIC:      "chewbacca.cfg.k"() <{kh = 3 : i64, kw = 3 : i64, stride = 1 : i64, dilation = 1 : i64, pad_top = 1 : i64, pad_left = 1 : i64, pad_mode = "pos"}> : () -> ()
// CHECK-GENERIC:      "chewbacca.conv"() <{fmem = 0 : i64, wmem = 0 : i64, acc = 0 : i64, accumulate = 1 : i64}> : () -> ()
// CHECK-GENERIC:      %y = "chewbacca.output"() <{tensor = "y", dram = 500 : i64, shape = [2 : i64, 2 : i64, 4 : i64], dtype = "int16"}> : () -> tensor<1x2x2x4xi32>
// CHECK-GENERIC-NEXT: "chewbacca.end"() : () -> ()
// CHECK-GENERIC:      }) {chewbacca.machine = ""} : () -> ()
