// RUN: not chewc-opt %s -p convert-tile-to-chewbacca 2>&1 | filecheck %s

// A loop that would never end: the pass refuses it with one line.
func.func @step() {
  %z = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  scf.for %i = %z to %c4 step %z {
  } {tile.unit = "rows"}
  func.return
}

// CHECK: chewc-opt: error: convert-tile-to-chewbacca: an scf.for steps by 0; steps must be positive
