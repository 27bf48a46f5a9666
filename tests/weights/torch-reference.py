#!/usr/bin/python3
"""torch-reference.py DIR S N: genuine PyTorch weight files and
torchvision's embeddings, for test-weights-torch.

Reads DIR/inputs.f32 (N images, 3 x S x S float32, normalised as our
pipeline feeds the network) and writes into DIR:
  resnet18-<first 8 hex of its SHA-256>.pth
                   torch.save of a random-initialised torchvision resnet18
                   state_dict (batch-norm statistics and affine parameters
                   drawn at random too, so that they matter)
  archive.pth      the same state dict saved to a file object (top folder
                   'archive', as PyTorch 2 names it)
  half.pth         the state dict in float16 (HalfStorage)
  model.safetensors the same tensors as timm publishes them: torchvision's
                   names, float32, no num_batches_tracked, written by hand
                   in the safetensors format
  name.txt         the .pth file's name
  ref.f32          torchvision's 512-d embeddings (fc = Identity, eval
                   mode) of the inputs, N x 512
  ref-half.f32     the same with the float16-rounded weights
Exits 77 when torch or torchvision cannot be imported.
"""
import hashlib
import io
import json
import os
import struct
import sys

try:
    import torch
    import torchvision
except ImportError as e:
    print('skipped: %s' % e)
    sys.exit(77)

out, size, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(1234)
model = torchvision.models.resnet18()
with torch.no_grad():
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0.0, 0.2)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.normal_(1.0, 0.1)
            module.bias.normal_(0.0, 0.1)
            module.num_batches_tracked.fill_(100)
sd = model.state_dict()

tmp = os.path.join(out, 'resnet18.pth')
torch.save(sd, tmp)
with open(tmp, 'rb') as f:
    digest = hashlib.sha256(f.read()).hexdigest()
name = 'resnet18-%s.pth' % digest[:8]
os.rename(tmp, os.path.join(out, name))
with open(os.path.join(out, 'name.txt'), 'w') as f:
    f.write(name)

buf = io.BytesIO()
torch.save(sd, buf)
with open(os.path.join(out, 'archive.pth'), 'wb') as f:
    f.write(buf.getvalue())
half = {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
torch.save(half, os.path.join(out, 'half.pth'))

# timm's model.safetensors, by hand: 8-byte length, JSON header, data.
header, blobs, at = {'__metadata__': {'format': 'pt'}}, [], 0
for k, v in sd.items():
    if k.endswith('num_batches_tracked'):
        continue
    data = v.contiguous().float().numpy().tobytes()
    header[k] = {'dtype': 'F32', 'shape': list(v.shape), 'data_offsets': [at, at + len(data)]}
    blobs.append(data)
    at += len(data)
text = json.dumps(header).encode()
text += b' ' * (-len(text) % 8)
with open(os.path.join(out, 'model.safetensors'), 'wb') as f:
    f.write(struct.pack('<Q', len(text)))
    f.write(text)
    for b in blobs:
        f.write(b)

with open(os.path.join(out, 'inputs.f32'), 'rb') as f:
    x = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(n, 3, size, size)
model.fc = torch.nn.Identity()
model.eval()
with torch.no_grad():
    with open(os.path.join(out, 'ref.f32'), 'wb') as f:
        f.write(model(x).numpy().astype('<f4').tobytes())
    rounded = torchvision.models.resnet18()
    rounded.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})
    rounded.fc = torch.nn.Identity()
    rounded.eval()
    with open(os.path.join(out, 'ref-half.f32'), 'wb') as f:
        f.write(rounded(x).numpy().astype('<f4').tobytes())
