#!/usr/bin/env python3
"""make-corpus.py: writes the hand-made seed inputs of tests/fuzz/corpus/.

Run from tests/fuzz.  Each seed reaches one check of a reader (a bad
header, an overflow, a limit); the fuzzer starts from them and what it
found is added beside them by build-aux/fuzz.sh's merge.  Images made by
ImageMagick (corpus/image/im-*) are committed as they are.
Standard library only.
"""
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode('utf-8')
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


# ---- JSON (first byte: mode flags of fuzz-json.c) --------------------------
J = {
    'object': '{"a": 1, "b": [true, false, null], "c": {"d": "e"}}',
    'numbers': '[0, -0, 1.5, -2e-3, 1E+10, 9223372036854775807, -9223372036854775808, 0.1, 5e-324, 1.7976931348623157e308]',
    'int-overflow': '[9223372036854775808]',
    'huge-exponent': '[1e999]',
    'escapes': '["\\"\\\\\\/\\b\\f\\n\\r\\t", "\\u00e9\\u4e2d", "\\ud83d\\ude00", "\\u0000x"]',
    'lone-surrogate': '["\\ud800"]',
    'bad-surrogate-pair': '["\\ud83d\\u0041"]',
    'invalid-utf8': b'["\xc3\x28", "\xff"]',
    'overlong-utf8': b'["\xc0\xaf"]',
    'control-char': '["a\x01b"]',
    'duplicate-keys': '{"k": 1, "k": 2}',
    'deep': '[' * 70 + ']' * 70,
    'deep-ok': '[' * 63 + ']' * 63,
    'trailing-comma': '[1, 2,]',
    'trailing-garbage': '{"a": 1} x',
    'leading-zero': '[01]',
    'lone-minus': '[-]',
    'truncated': '{"a": [1, 2',
    'empty': '',
    'whitespace': ' \t\r\n ',
    'key-with-nul': '{"a\\u0000b": 1}',
    'safetensors-header': '{"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}, "__metadata__": {"format": "pt"}}',
}
for name, text in J.items():
    if isinstance(text, str):
        text = text.encode('utf-8')
    put('json', name, b'\x00' + text)
put('json', 'dupes-allowed', b'\x01{"k": 1, "k": 2}')
put('json', 'tight-limits', b'\x12[[[1, 2, 3, 4, 5, 6, 7, 8]]]')


# ---- safetensors ------------------------------------------------------------
def st(header, data=b'', pad=True, length=None):
    h = json.dumps(header).encode()
    if pad:
        h += b' ' * (-len(h) % 8)
    n = len(h) if length is None else length
    return struct.pack('<Q', n) + h + data


f32x4 = struct.pack('<4f', 1.0, -2.0, 0.5, 3.0)
put('safetensors', 'valid-f32', st({'w': {'dtype': 'F32', 'shape': [2, 2], 'data_offsets': [0, 16]},
                                    '__metadata__': {'format': 'pt'}}, f32x4))
put('safetensors', 'valid-mixed', st({
    'a': {'dtype': 'F16', 'shape': [2], 'data_offsets': [0, 4]},
    'b': {'dtype': 'BF16', 'shape': [2], 'data_offsets': [4, 8]},
    'c': {'dtype': 'I64', 'shape': [], 'data_offsets': [8, 16]},
    'd': {'dtype': 'F64', 'shape': [1], 'data_offsets': [16, 24]},
    'e': {'dtype': 'U8', 'shape': [3], 'data_offsets': [24, 27]},
    'f': {'dtype': 'BOOL', 'shape': [1], 'data_offsets': [27, 28]},
    'g': {'dtype': 'I32', 'shape': [0, 5], 'data_offsets': [28, 28]},
}, bytes(range(28))))
put('safetensors', 'unaligned-header', st({'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]}},
                                          b'\0\0\x80\x3f', pad=False))
put('safetensors', 'header-length-huge', struct.pack('<Q', 1 << 62) + b'{}')
put('safetensors', 'header-length-past-end', st({}, length=1000))
put('safetensors', 'too-short', b'\x08\x00\x00')
put('safetensors', 'empty-header', st({}))
put('safetensors', 'not-json', struct.pack('<Q', 8) + b'notjson!')
put('safetensors', 'header-not-object', st([1, 2]))
put('safetensors', 'offset-out-of-range', st({'w': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]}}, b'\0' * 4))
put('safetensors', 'offset-reversed', st({'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [4, 0]}}, b'\0' * 4))
put('safetensors', 'offset-overflow', st({'w': {'dtype': 'F32', 'shape': [1],
                                               'data_offsets': [18446744073709551612, 0]}}, b'\0' * 4))
put('safetensors', 'offset-negative', st({'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [-4, 0]}}, b'\0' * 4))
put('safetensors', 'size-mismatch', st({'w': {'dtype': 'F32', 'shape': [3], 'data_offsets': [0, 8]}}, b'\0' * 8))
put('safetensors', 'shape-overflow', st({'w': {'dtype': 'F32', 'shape': [4294967296, 4294967296, 16],
                                              'data_offsets': [0, 0]}}))
put('safetensors', 'shape-negative', st({'w': {'dtype': 'F32', 'shape': [-1], 'data_offsets': [0, 0]}}))
put('safetensors', 'shape-too-many-dims', st({'w': {'dtype': 'U8', 'shape': [1] * 9, 'data_offsets': [0, 1]}}, b'\0'))
put('safetensors', 'overlap', st({'a': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]},
                                  'b': {'dtype': 'F32', 'shape': [2], 'data_offsets': [4, 12]}}, b'\0' * 12))
put('safetensors', 'gap-in-data', st({'a': {'dtype': 'F32', 'shape': [1], 'data_offsets': [4, 8]}}, b'\0' * 8))
# JSON objects cannot hold a key twice in Python: the header is written out.
dup = (b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
       b'"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}')
dup += b' ' * (-len(dup) % 8)
put('safetensors', 'duplicate-name', struct.pack('<Q', len(dup)) + dup + b'\0' * 8)
put('safetensors', 'bad-dtype', st({'w': {'dtype': 'F8_E4M3', 'shape': [1], 'data_offsets': [0, 1]}}, b'\0'))
put('safetensors', 'dtype-not-string', st({'w': {'dtype': 32, 'shape': [1], 'data_offsets': [0, 4]}}, b'\0' * 4))
put('safetensors', 'missing-offsets', st({'w': {'dtype': 'F32', 'shape': [1]}}, b'\0' * 4))
put('safetensors', 'metadata-not-string', st({'__metadata__': {'k': 1}}))
put('safetensors', 'metadata-nested', st({'__metadata__': {'k': {'x': 'y'}}}))
put('safetensors', 'extra-field', st({'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4], 'x': 1}}, b'\0' * 4))
put('safetensors', 'trailing-bytes', st({'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]}}, b'\0' * 9))


# ---- model (a safetensors file that cp_model_load checks further) ----------
def model(meta, tensors):
    header, data = {}, b''
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [len(data), len(data) + len(raw)]}
        data += raw
    if meta is not None:
        header['__metadata__'] = meta
    return st(header, data)


base_meta = {'format': 'cutpaste-inspector', 'format_version': '1', 'image_size': '64',
             'head_layers': '0', 'category': 'weave', 'variant': '3way', 'threshold': '1.5'}
head = {'head.0.weight': ('F32', [1], b'\0' * 4), 'out.weight': ('F32', [3, 1], b'\0' * 12)}
put('model', 'garbage', b'garbage')
put('model', 'other-format', model(dict(base_meta, format='something-else'), head))
put('model', 'newer-version', model(dict(base_meta, format_version='2'), head))
put('model', 'version-not-number', model(dict(base_meta, format_version='1x'), head))
put('model', 'image-size-33', model(dict(base_meta, image_size='33'), head))
put('model', 'image-size-huge', model(dict(base_meta, image_size='99999999999999999999'), head))
put('model', 'no-head', model(base_meta, {'out.weight': ('F32', [3, 1], b'\0' * 12)}))
put('model', 'head-mismatch', model(dict(base_meta, head_layers='3'), head))
put('model', 'out-5-classes', model(base_meta, {'head.0.weight': ('F32', [1], b'\0' * 4),
                                                'out.weight': ('F32', [5, 1], b'\0' * 20)}))
put('model', 'no-gaussian', model(base_meta, head))
put('model', 'gaussian-wrong-shape', model(base_meta, dict(head, **{
    'gde.mean': ('F32', [4], b'\0' * 16), 'gde.precision': ('F32', [2, 2], b'\0' * 16)})))
put('model', 'gaussian-int', model(base_meta, dict(head, **{
    'gde.mean': ('I8', [512], b'\0' * 512), 'gde.precision': ('I8', [2, 2], b'\0' * 4)})))
put('model', 'reference-state-dict', model(None, head))


# ---- dataset (line encoding of fuzz-dataset.c) -----------------------------
D = {
    'one-category': 'f cat/train/good/a.png\t@png\nf cat/train/good/b.PNG\t@png\n'
                    'f cat/test/good/c.png\t@png\nf cat/test/crack/d.png\t@png\n'
                    'f cat/ground_truth/crack/d_mask.png\t@png\n',
    'mask-plain-name': 'f c/train/good/a.png\t@png\nf c/test/hole/x.jpg\t@png\nf c/ground_truth/hole/x.png\t@png\n',
    'missing-mask': 'f c/train/good/a.png\t@png\nf c/test/hole/x.png\t@png\n',
    'corrupt-images': 'f c/train/good/a.png\tnot a png\nf c/train/good/b.jpg\t\xff\xd8\xff\n',
    'empty-train': 'd c/train/good\nf c/train/good/readme.txt\thello\n',
    'hidden-and-other': 'f c/train/good/.a.png\t@png\nf c/train/good/b.png\t@png\nf c/train/good/c.png.bak\tx\n',
    'folder-named-png': 'd c/train/good/x.png\nf c/train/good/y.png\t@png\n',
    'symlink-loop': 'l c/train/good/a.png\ta.png\nf c/train/good/b.png\t@png\nl d\td\n',
    'symlink-category': 'f real/train/good/a.png\t@png\nl alias\treal\n',
    'symlink-dangling': 'l c/train/good/a.png\tnowhere.png\nf c/train/good/b.png\t@png\n',
    'train-is-file': 'f c/train\tx\nf d/train/good/a.png\t@png\n',
    'test-good-only': 'f c/train/good/a.png\t@png\nf c/test/good/b.png\t@png\n',
    'ground-truth-is-file': 'f c/train/good/a.png\t@png\nf c/test/cut/b.png\t@png\nf c/ground_truth\tx\n',
    'odd-names': 'f c/train/good/\xc3\xa9t\xc3\xa9.PnG\t@png\nf c/train/good/a b.jpeg\t@png\nf c/train/good/.png\t@png\n',
    'many-categories': ''.join('f c%d/train/good/a.png\t@png\n' % i for i in range(12)),
    'empty': '',
}
for name, text in D.items():
    put('dataset', name, text.encode('utf-8', 'surrogateescape') if isinstance(text, str) else text)


# ---- images -------------------------------------------------------------------
def png_chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)


def png(w, h, idat=None, colour=2, depth=8):
    raw = b''.join(b'\0' + b'\x80' * (3 * w) for _ in range(min(h, 4)))
    ihdr = struct.pack('>IIBBBBB', w, h, depth, colour, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + png_chunk(b'IHDR', ihdr)
            + png_chunk(b'IDAT', zlib.compress(raw) if idat is None else idat) + png_chunk(b'IEND', b''))


put('image', 'png-100000x100000', png(100000, 100000))
put('image', 'png-16385x1', png(16385, 1))
put('image', 'png-12000x12000', png(12000, 12000))
put('image', 'png-zero-width', png(0, 4))
put('image', 'png-truncated', png(4, 4)[:-20])
put('image', 'png-bad-crc', png(4, 4)[:30] + b'\0\0\0\0' + png(4, 4)[34:])
put('image', 'png-short-idat', png(4, 4, idat=zlib.compress(b'\0\x80')))
put('image', 'png-bad-zlib', png(4, 4, idat=b'\x78\x9c\xff\xff\xff'))
put('image', 'png-bad-colour-type', png(4, 4, colour=5))
put('image', 'png-signature-only', b'\x89PNG\r\n\x1a\n')


def bmp(w, h, bpp=24, data=b''):
    hdr = struct.pack('<IiiHHIIiiII', 40, w, h, 1, bpp, 0, len(data), 2835, 2835, 0, 0)
    return b'BM' + struct.pack('<IHHI', 14 + 40 + len(data), 0, 0, 54) + hdr + data


put('image', 'bmp-100000x100000', bmp(100000, 100000))
put('image', 'bmp-negative-height', bmp(4, -4, data=b'\x80' * 48))
put('image', 'bmp-truncated', bmp(64, 64, data=b'\x80' * 10))
put('image', 'bmp-bpp-0', bmp(4, 4, bpp=0, data=b'\x80' * 48))
# JPEG: SOI, SOF0 claiming 65535 x 65535, EOI.
sof = struct.pack('>HBHHB', 11, 8, 65535, 65535, 1) + b'\x01\x11\x00'
put('image', 'jpeg-65535x65535', b'\xff\xd8\xff\xc0' + sof + b'\xff\xd9')
put('image', 'jpeg-soi-only', b'\xff\xd8')
put('image', 'text', b'not an image at all\n')
put('image', 'empty', b'')


# ---- torch.save archives, their zip and their pickle ------------------------
# Seeds from the files PyTorch wrote for the core io tests
# (tests/core/io/fixtures, see make-fixtures.py there).
FIXTURES = os.path.join(HERE, '..', 'core', 'io', 'fixtures')
import zipfile  # noqa: E402  (only this section needs it)

for fixture in ('small.pth', 'param.pth', 'archive.pth', 'big.pth'):
    with open(os.path.join(FIXTURES, fixture), 'rb') as f:
        blob = f.read()
    name = fixture[:-4]
    put('pth', name, blob)
    put('zip', name, blob)
    top = zipfile.ZipFile(os.path.join(FIXTURES, fixture)).namelist()[0].split('/')[0]
    put('pickle', name, zipfile.ZipFile(os.path.join(FIXTURES, fixture)).read(top + '/data.pkl'))


def zip_stored(entries):
    """A stored zip archive of (name, bytes), as Python's zipfile writes it."""
    import io
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_STORED) as z:
        for name, data in entries:
            z.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_STORED)
    return buf.getvalue()


def pkl(*parts):
    return b''.join(p if isinstance(p, bytes) else p.encode() for p in parts)


def binunicode(s):
    b = s.encode()
    return b'X' + struct.pack('<I', len(b)) + b


def tensor(storage_type, key, numel, offset, shape, stride):
    ints = lambda xs: b'(' + b''.join(b'K' + bytes([x]) for x in xs) + b't'
    return pkl(b'ctorch._utils\n_rebuild_tensor_v2\n(',
               b'(', binunicode('storage'), b'ctorch\n', storage_type, b'\n', binunicode(key),
               binunicode('cpu'), b'K', bytes([numel]), b'tQ',
               b'K', bytes([offset]), ints(shape), ints(stride), b'\x89',
               b'ccollections\nOrderedDict\n)R', b'tR')


def state_dict(*items):
    body = b''.join(binunicode(k) + v for k, v in items)
    return b'\x80\x02ccollections\nOrderedDict\n)Rq\x00(' + body + b'u.'


two = state_dict(('a', tensor(b'FloatStorage', '0', 6, 0, [2, 3], [3, 1])),
                 ('b', tensor(b'LongStorage', '1', 1, 0, [], [])))
put('pickle', 'hand-two-tensors', two)
put('pickle', 'global-os-system', b'\x80\x02cos\nsystem\nX\x02\x00\x00\x00lsR.')
put('pickle', 'inst', b'\x80\x02(ios\nsystem\nX\x02\x00\x00\x00ls.')
put('pickle', 'past-storage', state_dict(('a', tensor(b'FloatStorage', '0', 4, 2, [3], [1]))))
put('pickle', 'strided', state_dict(('a', tensor(b'HalfStorage', '0', 12, 1, [2, 2], [6, 2]))))
put('pickle', 'memo-loop', b'\x80\x02}q\x00h\x00h\x00s.')
put('pickle', 'truncated', two[:len(two) // 2])
arch = zip_stored([('m/data.pkl', two), ('m/data/0', struct.pack('<6f', *range(6))),
                   ('m/data/1', struct.pack('<q', 7)), ('m/version', b'3\n'),
                   ('m/byteorder', b'little')])
put('pth', 'hand-archive', arch)
put('zip', 'hand-archive', arch)
put('pth', 'storage-too-short', zip_stored([('m/data.pkl', two), ('m/data/0', b'\0' * 20),
                                            ('m/data/1', b'\0' * 8)]))
put('pth', 'global-os-system', zip_stored([('m/data.pkl', b'\x80\x02cos\nsystem\nX\x02\x00\x00\x00lsR.')]))
put('pth', 'no-data-pkl', zip_stored([('m/other', b'x')]))
put('pth', 'legacy', b'\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.')
put('zip', 'empty-archive', b'PK\x05\x06' + b'\0' * 18)


def deflated():
    import io
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('m/data.pkl', two)
    return buf.getvalue()


put('zip', 'deflated', deflated())
put('pth', 'deflated', deflated())


# ---- weights: safetensors with torchvision's (= timm's) names --------------
def weights(tensors, meta=None):
    header, data, at = {}, b'', 0
    if meta is not None:
        header['__metadata__'] = meta
    for name, dtype, shape, values in tensors:
        header[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [at, at + len(values)]}
        data += values
        at += len(values)
    return st(header, data)


def f16(n, value=0x3c00):
    return struct.pack('<%dH' % n, *([value] * n))


bn64 = [('bn1.' + k, 'F16', [64], f16(64)) for k in ('weight', 'bias', 'running_mean', 'running_var')]
conv1 = ('conv1.weight', 'F16', [64, 3, 7, 7], f16(64 * 3 * 7 * 7))
put('weights', 'stem-only', weights([conv1] + bn64 + [('bn1.num_batches_tracked', 'I64', [], b'\0' * 8)],
                                    {'format': 'pt'}))
put('weights', 'stem-bad-shape', weights([('conv1.weight', 'F16', [64, 3, 7, 6], f16(64 * 3 * 7 * 6))]))
put('weights', 'stem-nan', weights([('conv1.weight', 'F16', [64, 3, 7, 7], f16(64 * 3 * 7 * 7, 0x7e00))]))
put('weights', 'tracked-float', weights([('bn1.num_batches_tracked', 'F32', [1], b'\0' * 4)]))
put('weights', 'reference-name', weights([('resnet18.conv1.weight', 'F16', [64, 3, 7, 7],
                                            f16(64 * 3 * 7 * 7))]))
put('weights', 'resnet34-name', weights([('layer1.2.conv1.weight', 'F16', [1], f16(1))]))
put('weights', 'fc-only', weights([('fc.weight', 'F16', [2, 512], f16(1024)), ('fc.bias', 'F16', [2], f16(2))]))
