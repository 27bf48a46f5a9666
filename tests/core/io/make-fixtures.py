#!/usr/bin/python3
"""Writes the small torch.save files the pth reader tests read.

Run with Debian's /usr/bin/python3 (python3-torch):
    /usr/bin/python3 tests/core/io/make-fixtures.py tests/core/io/fixtures

Every value is a fixed function of its index, so test-pth.c knows them
without reading anything else:
  small.pth      a Conv2d(1, 2, 1) + BatchNorm2d(2) state dict (with its
                 _metadata, set by BUILD, and an int64 num_batches_tracked),
                 plus 'f64' (float64), 'f16' (float16), 'bf16' (bfloat16),
                 'view' (a transposed, non-contiguous view) and 'lo'/'hi'
                 (two views of one storage at different offsets).
  param.pth      a plain dict of nn.Parameter (_rebuild_parameter).
  archive.pth    small.pth saved to a file object: top folder 'archive'.
  big.pth        small.pth rewritten as a big-endian machine writes it: a
                 'byteorder' record of 'big' and byte-swapped storages.
  little.pth     small.pth with a 'byteorder' record of 'little' (as
                 PyTorch 2.1 and later write it).
"""
import io
import os
import sys
import zipfile

import torch

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'fixtures')
os.makedirs(out, exist_ok=True)


def small_state():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), torch.nn.BatchNorm2d(2))
    sd = net.state_dict()
    with torch.no_grad():
        sd['0.weight'].copy_(torch.tensor([0.5, -1.25]).reshape(2, 1, 1, 1))
        sd['0.bias'].copy_(torch.tensor([0.125, 2.0]))
        sd['1.weight'].copy_(torch.tensor([1.5, 0.75]))
        sd['1.bias'].copy_(torch.tensor([-0.5, 0.25]))
        sd['1.running_mean'].copy_(torch.tensor([0.1, -0.2]))
        sd['1.running_var'].copy_(torch.tensor([0.9, 1.1]))
        sd['1.num_batches_tracked'].fill_(7)
    sd['f64'] = torch.arange(3, dtype=torch.float64) / 3.0
    sd['f16'] = torch.tensor([1.0, -2.5, 0.099975586, 65504.0], dtype=torch.float16)
    sd['bf16'] = torch.tensor([1.0, -3.140625], dtype=torch.bfloat16)
    base = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    sd['view'] = base.t()                       # (3, 2), strides (1, 3)
    shared = torch.arange(10, dtype=torch.float32) * 0.5
    sd['lo'] = shared[0:4]
    sd['hi'] = shared[6:10].reshape(2, 2)       # storage offset 6
    return sd


def save(obj, name):
    path = os.path.join(out, name)
    torch.save(obj, path)
    return path


small = save(small_state(), 'small.pth')
save({'w': torch.nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, 4.0]])),
      'b': torch.nn.Parameter(torch.tensor([-1.0]), requires_grad=False)}, 'param.pth')
buf = io.BytesIO()
torch.save(small_state(), buf)
with open(os.path.join(out, 'archive.pth'), 'wb') as f:
    f.write(buf.getvalue())


def storage_sizes():
    """Element size of each storage key, from a real load of small.pth."""
    sizes = {}
    zf = zipfile.ZipFile(small)
    import pickle

    class Probe(pickle.Unpickler):
        def find_class(self, module, name):
            return getattr(__import__(module, fromlist=[name]), name)

        def persistent_load(self, pid):
            sizes[pid[2]] = {torch.FloatStorage: 4, torch.DoubleStorage: 8,
                             torch.HalfStorage: 2, torch.BFloat16Storage: 2,
                             torch.LongStorage: 8}[pid[1]]
            return pid[1](pid[4])

    Probe(io.BytesIO(zf.read('small/data.pkl'))).load()
    return sizes


def rewrite(name, order):
    sizes = storage_sizes()
    src = zipfile.ZipFile(small)
    with zipfile.ZipFile(os.path.join(out, name), 'w', zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            rel = info.filename.split('/', 1)[1]
            if order == 'big' and rel.startswith('data/'):
                n = sizes[rel[5:]]
                data = b''.join(data[i:i + n][::-1] for i in range(0, len(data), n))
            dst.writestr('small/' + rel, data)
        dst.writestr('small/byteorder', order)


rewrite('big.pth', 'big')
rewrite('little.pth', 'little')
with open(os.path.join(out, 'VERSIONS'), 'w') as f:
    f.write('torch %s\n' % torch.__version__)
