#!/usr/bin/env python3
# onnx-check.py: validates an exported model with the ONNX project's own
# checker (full check, strict shape inference) and prints the inferred
# output shapes.  Exit 77 when the onnx module is not installed
# (Debian: python3-onnx).
import sys

try:
    import onnx
    from onnx import shape_inference
except ImportError:
    print("onnx module not installed")
    sys.exit(77)

model = onnx.load(sys.argv[1])
onnx.checker.check_model(model, full_check=True)
inferred = shape_inference.infer_shapes(model, strict_mode=True)
shapes = {}
for v in list(inferred.graph.output):
    dims = [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
    shapes[v.name] = dims
print("onnx %s checker: ok; ir_version %d, opset %d; outputs %s"
      % (onnx.__version__, model.ir_version, model.opset_import[0].version, shapes))
