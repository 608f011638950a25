"""Chunk-by-chunk separation of a stream with causal SepMamba, equal to the offline pass.

Causal SepMamba's Mamba stacks look only backwards, and its (unpadded) strided convolutions and
transposed convolutions look a fixed, finite distance ahead. So every output sample is a
function of the input up to a bounded lookahead, and a stream can be separated piece by piece
with constant memory:

- a strided Conv1d keeps the input samples its next window still needs (< kernel);
- a causal Mamba stack keeps (conv_state, ssm_state) per block (``Block.step``);
- a ConvTranspose1d keeps the overlap-add sums of its last (kernel - stride) outputs, which
  later frames still add to, and emits the outputs no later frame can touch;
- each skip connection queues the encoder frames that wait for their decoder partner
  (a bounded number: the decoder side lags by a fixed amount).

After ``push``-ing n samples, the output samples 0 .. ready(n)-1 are final, and ``ready(n) >=
n - latency`` with ``latency = algorithmic_latency(...)`` (98..105 samples with the official
kernels 16 / strides 2, i.e. 105 samples = 13.1 ms at 8 kHz). ``push`` returns exactly the
samples up to n - latency, so every chunk of C samples in gives C samples out (once the first
``latency`` samples are in). ``flush`` ends the stream: it applies the offline pass's right-edge
rules (transposed-conv tails, zero padding to the skips, zero padding to the input length,
padding of inputs shorter than one bottleneck frame) and returns the rest. Concatenated, the
outputs equal ``model(mix)`` up to float rounding (summation order).
"""

import torch
import torch.nn.functional as F


def _frames(n, kernel, stride):
    """Output frames of an unpadded Conv1d over n samples."""
    return (n - kernel) // stride + 1 if n >= kernel else 0


def ready_outputs(n, kernel_sizes, strides):
    """How many output samples of the U-Net are final once n input samples are in."""
    counts = [n]
    for k, s in zip(kernel_sizes, strides):
        counts.append(_frames(counts[-1], k, s))
    x = counts[-1]
    for level in range(len(strides) - 1, 0, -1):  # up stages: transposed conv paired with a skip
        x = min(strides[level] * x, counts[level])
    return strides[0] * x


def algorithmic_latency(kernel_sizes, strides):
    """The fixed delay (samples) of the streamer: max over n of n - ready_outputs(n).

    ready_outputs(n) - n is periodic in n with period prod(strides) once every stage has frames,
    so a scan over a few periods past the minimum input length finds the maximum."""
    period = 1
    for s in strides:
        period *= s
    from speechslytherin.models.sep.sepmamba import min_input_length

    horizon = min_input_length(kernel_sizes, strides) + 4 * period * max(kernel_sizes)
    return max(n - ready_outputs(n, kernel_sizes, strides) for n in range(horizon + 1))


def _length(x):
    return 0 if x is None else x.shape[-1]


def _cat(a, b):
    if a is None or a.shape[-1] == 0:
        return b
    if b is None or b.shape[-1] == 0:
        return a
    return torch.cat([a, b], dim=-1)


class StreamingConv1d:
    """An unpadded, strided Conv1d over a stream [B, C, n] -> the frames whose window is complete."""

    def __init__(self, conv):
        self.conv = conv
        self.kernel, self.stride = conv.kernel_size[0], conv.stride[0]
        self.buffer = None

    def push(self, x):
        buf = _cat(self.buffer, x)
        m = _frames(_length(buf), self.kernel, self.stride)
        if m == 0:
            self.buffer = buf
            return None
        y = F.conv1d(buf[..., : (m - 1) * self.stride + self.kernel], self.conv.weight, self.conv.bias,
                     stride=self.stride)
        self.buffer = buf[..., m * self.stride:]
        return y

    def state_tensors(self):
        return [self.buffer] if self.buffer is not None else []


class StreamingConvTranspose1d:
    """A ConvTranspose1d over a stream of frames: emits stride outputs per frame once no later
    frame adds to them; keeps the (kernel - stride) open overlap-add sums."""

    def __init__(self, convT):
        self.convT = convT
        self.kernel, self.stride = convT.kernel_size[0], convT.stride[0]
        self.open_sums = None  # [B, C_out, kernel - stride], bias not yet added

    def _bias(self, y):
        return y if self.convT.bias is None else y + self.convT.bias.view(1, -1, 1)

    def push(self, x):
        m = _length(x)
        if m == 0:
            return None
        full = F.conv_transpose1d(x, self.convT.weight, None, stride=self.stride)  # (m-1)*s + k
        if self.open_sums is not None:
            head = full[..., : self.open_sums.shape[-1]] + self.open_sums
            full = torch.cat([head, full[..., self.open_sums.shape[-1]:]], dim=-1)
        self.open_sums = full[..., m * self.stride:]
        return self._bias(full[..., : m * self.stride])

    def flush(self):
        """The last (kernel - stride) outputs, summed from the frames that reached them."""
        if self.open_sums is None or self.open_sums.shape[-1] == 0:
            return None
        tail, self.open_sums = self._bias(self.open_sums), None
        return tail

    def state_tensors(self):
        return [self.open_sums] if self.open_sums is not None else []


class CausalMambaLayer:
    """The forward stack of a (causal) BiMambaSum, stepped over [B, C, m] frames."""

    def __init__(self, layer, batch, dtype):
        if getattr(layer, "bidirectional", True):
            raise ValueError("streaming needs a causal SepMamba (causal=True): the backward Mamba stack of "
                             "the non-causal model reads the whole future of the input.")
        self.blocks = layer.forward_mamba_block.mamba_blocks
        self.states = [block.allocate_inference_state(batch, dtype=dtype) for block in self.blocks]

    def push(self, x):
        if _length(x) == 0:
            return None
        hidden, residual = x.transpose(1, 2), None
        for i, block in enumerate(self.blocks):
            hidden, residual, self.states[i] = block.step(hidden, residual, self.states[i])
        return (hidden + residual).transpose(1, 2)

    def state_tensors(self):
        return [t for state in self.states for t in state]


class StreamingUpStage:
    """An UpSample stage: transposed conv + activation, paired frame by frame with the queued skip
    frames, then fusion conv + activation + causal Mamba."""

    def __init__(self, up, batch, dtype):
        self.up = up
        self.convT = StreamingConvTranspose1d(up.convT1d)
        self.mamba = CausalMambaLayer(up.mamba_layer, batch, dtype)
        self.skips = None   # encoder frames waiting for their decoder partner
        self.decoded = None  # decoder frames waiting for their skip (never more than a few)

    def _pair(self):
        m = min(_length(self.skips), _length(self.decoded))
        if m == 0:
            return None
        skip, dec = self.skips[..., :m], self.decoded[..., :m]
        self.skips, self.decoded = self.skips[..., m:], self.decoded[..., m:]
        fused = self.up.act(self.up.conv1d_fusion(torch.cat([skip, dec], dim=1)))
        return self.mamba.push(fused)

    def push(self, x, skip):
        self.skips = _cat(self.skips, skip)
        y = self.convT.push(x)
        if y is not None:
            self.decoded = _cat(self.decoded, self.up.act(y))
        return self._pair()

    def flush(self, x, skip):
        """End of stream: the last frames, the transposed conv's tail, then exact zeros up to the
        skip's length (the offline pass pads after the activation)."""
        out = self.push(x, skip)
        tail = self.convT.flush()
        if tail is not None:
            self.decoded = _cat(self.decoded, self.up.act(tail))
        missing = _length(self.skips) - _length(self.decoded)
        if missing > 0:
            ref = self.skips
            zeros = ref.new_zeros(ref.shape[0], self.up.convT1d.out_channels, missing)
            self.decoded = _cat(self.decoded, zeros)
        out = _cat(out, self._pair())
        self.skips = self.decoded = None
        return out

    def state_tensors(self):
        own = [t for t in (self.skips, self.decoded) if t is not None]
        return own + self.convT.state_tensors() + self.mamba.state_tensors()


class SepMambaStreamer:
    """Separate a stream with a causal SepMamba: ``push(chunk)`` -> the next output samples,
    ``flush()`` -> the rest. Input chunks [B, n] (or [n] when batch == 1), outputs [B, m, n_src]
    (or [m, n_src]) with m = n once ``latency`` samples are in; chunks may have any length.

    The model is read, not copied: keep it unchanged (and in eval mode) while streaming."""

    def __init__(self, model, batch=1):
        if not getattr(model, "causal", False):
            raise ValueError(f"{type(model).__qualname__} is not causal: streaming needs SepMamba(causal=True) "
                             f"(presets causal-S, causal-M): the non-causal model reads the whole future.")
        self.model, self.batch = model, int(batch)
        self.kernel_sizes, self.strides = list(model.kernel_sizes), list(model.strides)
        self.latency = algorithmic_latency(self.kernel_sizes, self.strides)
        self.reset()

    def reset(self):
        """Start a new stream (drops all state)."""
        param = next(self.model.parameters())
        self.device, self.dtype = param.device, param.dtype
        self.down_convs = [StreamingConv1d(d.conv1d) for d in self.model.down]
        self.down_mambas = [CausalMambaLayer(d.mamba_layer, self.batch, self.dtype) for d in self.model.down]
        self.ups = [StreamingUpStage(u, self.batch, self.dtype) for u in self.model.up]
        self.decoder = StreamingConvTranspose1d(self.model.decoder)
        self.pending = None  # final output samples not yet handed out [B, n_src, q]
        self.n_in = 0
        self.n_out = 0
        self.finished = False
        self.squeeze = self.batch == 1

    # -- the network, incrementally ---------------------------------------------------------
    def _encode(self, x):
        """Down stages; returns the new frames of each level (None where a level has none)."""
        levels = []
        for conv, mamba, down in zip(self.down_convs, self.down_mambas, self.model.down):
            y = conv.push(x) if _length(x) else None
            if y is not None:
                y = mamba.push(down.act(y))
            levels.append(y)
            x = y
        return levels

    def _decode(self, bottleneck, skips, final):
        x = bottleneck
        for up, skip in zip(self.ups, skips):
            x = up.flush(x, skip) if final else up.push(x, skip)
        out = self.decoder.push(x)
        if final:
            out = _cat(out, self.decoder.flush())
        return out

    def _take(self, new, upto):
        """Queue the new final samples, hand out those with index < upto."""
        self.pending = _cat(self.pending, new)
        n = max(0, upto - self.n_out)
        if n > _length(self.pending):
            raise RuntimeError(f"SepMambaStreamer: {n} samples due but only {_length(self.pending)} final "
                               f"(latency {self.latency} is wrong for kernels {self.kernel_sizes}, "
                               f"strides {self.strides}).")
        if n == 0:
            return torch.zeros(self.batch, self.model.n_src, 0, device=self.device, dtype=self.dtype)
        out, self.pending = self.pending[..., :n], self.pending[..., n:]
        self.n_out += n
        return out

    def _as_batch(self, chunk):
        chunk = torch.as_tensor(chunk, dtype=self.dtype, device=self.device)
        squeeze = chunk.dim() == 1
        if squeeze:
            chunk = chunk.unsqueeze(0)
        if chunk.dim() != 2 or chunk.shape[0] != self.batch:
            raise ValueError(f"SepMambaStreamer: expected a chunk [{self.batch}, n] (or [n] for batch 1), "
                             f"got {tuple(chunk.shape)}.")
        return chunk, squeeze

    @staticmethod
    def _layout(out, squeeze):
        out = out.transpose(1, 2)  # [B, m, n_src]
        return out[0] if squeeze else out

    @torch.no_grad()
    def push(self, chunk):
        """Feed the next samples; returns the output samples that are now due."""
        if self.finished:
            raise RuntimeError("SepMambaStreamer: the stream was flushed; call reset() to start another.")
        chunk, squeeze = self._as_batch(chunk)
        self.squeeze = squeeze
        self.n_in += chunk.shape[1]
        levels = self._encode(chunk.unsqueeze(1))
        new = self._decode(levels[-1], [levels[1], levels[0]], final=False)
        return self._layout(self._take(new, self.n_in - self.latency), squeeze)

    @torch.no_grad()
    def flush(self):
        """End the stream; returns all remaining samples (total output = total input length),
        shaped like the pushes' outputs."""
        if self.finished:
            raise RuntimeError("SepMambaStreamer: flush() called twice; call reset() to start another stream.")
        total = self.n_in
        levels = [None] * len(self.down_convs)
        short = self.model.min_length - total
        if short > 0:  # as the offline pass: pad a too-short input to one bottleneck frame
            levels = self._encode(torch.zeros(self.batch, 1, short, device=self.device, dtype=self.dtype))
        new = self._decode(levels[-1], [levels[1], levels[0]], final=True)
        self.pending = _cat(self.pending, new)
        have = self.n_out + _length(self.pending)
        if have < total:  # the samples the convolutions leave out at the end are zeros offline
            self.pending = _cat(self.pending, torch.zeros(self.batch, self.model.n_src, total - have,
                                                          device=self.device, dtype=self.dtype))
        out = self._take(None, total)
        self.finished = True
        return self._layout(out, self.squeeze)

    def state_tensors(self):
        """Every tensor the streamer holds between chunks (for memory checks)."""
        tensors = []
        for part in (*self.down_convs, *self.down_mambas, *self.ups):
            tensors += part.state_tensors()
        tensors += self.decoder.state_tensors()
        if self.pending is not None:
            tensors.append(self.pending)
        return tensors

    def state_numel(self):
        return sum(t.numel() for t in self.state_tensors())


def separate_stream(model, chunks, batch=1):
    """Yield the outputs of a causal SepMamba for an iterable of input chunks, then the flush."""
    streamer = SepMambaStreamer(model, batch=batch)
    for chunk in chunks:
        yield streamer.push(chunk)
    yield streamer.flush()
