"""Audio codecs: waveforms <-> discrete token grids [B, n_q, T'] for the codec language models.

Two codecs share one interface (``encode``, ``decode``, ``sample_rate``, ``n_q``,
``codebook_size``, ``frame_rate``):

- ``MelRVQCodec``: the offline mini codec, fitted inside the recipe in seconds. 16 kHz audio,
  80-bin log-mel (magnitude) frames at hop 320 (50 Hz), the global mean removed, quantised by
  8 residual k-means codebooks of 256 entries (coarse to fine, the VALL-E token layout).
  Decoding sums the centroids, maps the mel back to a linear spectrum with the pseudo-inverse of
  the filterbank and runs Griffin-Lim (torch.stft / torch.istft only). No neural training, so it
  is deterministic and needs no download; the audio is phasey but the words survive.
- ``EncodecCodec``: EnCodec 24 kHz at 6 kbps (8 codebooks x 1024, 75 Hz), the codec of VALL-E,
  through the ``encodec`` package. Weights are read from a file or folder the user gives, or
  from the torch hub cache; offline without them, the error names the file and its checksum.

``load_codec(path)`` opens either from the file stage 2 writes (``data/codec.pt``).
"""

import math
import os

import numpy as np
import torch

FORMAT_VERSION = 1
ENCODEC_CHECKPOINT = "encodec_24khz-d7cc33bc.th"  # the encodec package's file name; 'd7cc33bc' = sha256 prefix
ENCODEC_BANDWIDTH = 6.0  # kbps: 8 codebooks, as VALL-E


class CodecError(ValueError):
    """A codec file or weights that cannot be used; the message names the file and the fix."""


# ----------------------------------------------------------------------------- audio helpers
def as_batch(wav):
    """[T] or [B, T] array/tensor -> float32 tensor [B, T]."""
    wav = torch.as_tensor(np.asarray(wav) if not torch.is_tensor(wav) else wav, dtype=torch.float32)
    if wav.dim() == 1:
        wav = wav[None]
    if wav.dim() != 2:
        raise CodecError(f"codec input must be [T] or [B, T] audio, got shape {tuple(wav.shape)}")
    return wav


def load_wav(path, sample_rate):
    """Mono float32 tensor [T] of an audio file at `sample_rate` (resampled when needed)."""
    from speechslytherin.data.audio import read_audio

    wav, sr = read_audio(path)
    wav = torch.from_numpy(wav)
    if sr != sample_rate:
        import torchaudio.functional as AF

        wav = AF.resample(wav, sr, sample_rate)
    return wav


def mel_filterbank(n_freqs, n_mels, sample_rate, f_min=0.0, f_max=None):
    """Triangular HTK-mel filters as a [n_freqs, n_mels] matrix (area-normalised like Slaney)."""
    f_max = f_max or sample_rate / 2

    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    freqs = np.linspace(0, sample_rate / 2, n_freqs)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    up = (freqs[:, None] - lower[None]) / (centre - lower)[None]
    down = (upper[None] - freqs[:, None]) / (upper - centre)[None]
    fb = np.maximum(0.0, np.minimum(up, down))
    fb *= (2.0 / (upper - lower))[None]
    return torch.tensor(fb, dtype=torch.float32)


# ----------------------------------------------------------------------------- mel + RVQ codec
class MelRVQCodec:
    """Log-mel frames quantised by residual k-means; Griffin-Lim back to audio (see module doc)."""

    kind = "mel-rvq"

    def __init__(self, sample_rate=16000, n_fft=1024, hop_length=320, n_mels=80, n_q=8, codebook_size=256,
                 griffin_lim_iters=48, log_floor=1e-5):
        self.sample_rate, self.n_fft, self.hop_length = int(sample_rate), int(n_fft), int(hop_length)
        self.n_mels, self.n_q, self.codebook_size = int(n_mels), int(n_q), int(codebook_size)
        self.griffin_lim_iters, self.log_floor = int(griffin_lim_iters), float(log_floor)
        self.frame_rate = self.sample_rate / self.hop_length
        self.window = torch.hann_window(self.n_fft)
        self.fbank = mel_filterbank(self.n_fft // 2 + 1, self.n_mels, self.sample_rate)
        self.inverse_fbank = torch.linalg.pinv(self.fbank)  # [n_mels, n_freqs]
        self.mean = None  # [n_mels] global log-mel mean, set by fit
        self.codebooks = None  # [n_q, codebook_size, n_mels]
        self.fit_report = {}

    # -- features
    def config(self):
        return dict(sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels,
                    n_q=self.n_q, codebook_size=self.codebook_size, griffin_lim_iters=self.griffin_lim_iters,
                    log_floor=self.log_floor)

    def log_mel(self, wav):
        """[B, T] audio -> [B, T', n_mels] log-mel magnitude frames (T' = T // hop + 1)."""
        spec = torch.stft(as_batch(wav), self.n_fft, self.hop_length, window=self.window, center=True,
                          return_complex=True).abs()
        return torch.log(torch.clamp(spec.transpose(1, 2) @ self.fbank, min=self.log_floor))

    def n_frames(self, n_samples):
        return int(n_samples) // self.hop_length + 1

    # -- fitting
    def fit(self, wavs, iterations=15, max_frames=100_000, seed=0, log=None):
        """Fit the mean and the n_q residual codebooks on a list of [T] waveforms at sample_rate."""
        feats = torch.cat([self.log_mel(w)[0] for w in wavs], 0)
        if feats.shape[0] < self.codebook_size:
            raise CodecError(f"codec fit needs at least {self.codebook_size} frames, got {feats.shape[0]} "
                             f"({feats.shape[0] / self.frame_rate:.1f} s of audio): give more utterances.")
        gen = torch.Generator().manual_seed(int(seed))
        if feats.shape[0] > max_frames:
            feats = feats[torch.randperm(feats.shape[0], generator=gen)[:max_frames]]
        self.mean = feats.mean(0)
        residual = feats - self.mean
        books, rms = [], []
        for _ in range(self.n_q):
            centroids = kmeans(residual, self.codebook_size, iterations, gen)
            residual = residual - centroids[nearest(residual, centroids)]
            books.append(centroids)
            rms.append(round(float(residual.pow(2).mean().sqrt()), 4))
        self.codebooks = torch.stack(books)
        self.fit_report = {"frames": int(feats.shape[0]), "residual_rms": rms, "iterations": int(iterations)}
        if log:
            log(f"mel-rvq codec fitted on {feats.shape[0]} frames; residual RMS per level: {rms}")
        return self

    def _check_fitted(self):
        if self.codebooks is None:
            raise CodecError("the mel-rvq codec is not fitted: call fit(wavs) or load a codec file "
                             "(python -m speechslytherin.bin.fit_codec).")

    # -- coding
    @torch.no_grad()
    def encode(self, wav):
        """[B, T] audio -> codes [B, n_q, T'] (long)."""
        self._check_fitted()
        residual = self.log_mel(wav) - self.mean
        b, t, d = residual.shape
        residual = residual.reshape(b * t, d)
        codes = []
        for book in self.codebooks:
            index = nearest(residual, book)
            residual = residual - book[index]
            codes.append(index)
        return torch.stack(codes, 0).reshape(self.n_q, b, t).permute(1, 0, 2).contiguous()

    @torch.no_grad()
    def codes_to_log_mel(self, codes):
        """codes [B, n_q', T'] (n_q' <= n_q: the first levels) -> log-mel [B, T', n_mels]."""
        self._check_fitted()
        codes = torch.as_tensor(codes).long()
        if codes.dim() == 2:
            codes = codes[None]
        if codes.shape[1] > self.n_q or codes.min() < 0 or codes.max() >= self.codebook_size:
            raise CodecError(f"codes of shape {tuple(codes.shape)} with values {int(codes.min())}.."
                             f"{int(codes.max())} do not fit this codec ({self.n_q} x {self.codebook_size})")
        out = self.mean.expand(codes.shape[0], codes.shape[2], self.n_mels).clone()
        for level in range(codes.shape[1]):
            out += self.codebooks[level][codes[:, level]]
        return out

    @torch.no_grad()
    def decode(self, codes):
        """codes [B, n_q', T'] -> audio [B, (T' - 1) * hop]."""
        mel = torch.exp(self.codes_to_log_mel(codes))
        magnitude = torch.clamp(mel @ self.inverse_fbank, min=0.0).transpose(1, 2)  # [B, F, T']
        length = (magnitude.shape[-1] - 1) * self.hop_length
        if length == 0:  # a single frame spans no hop: empty audio (scored as a failed output)
            return magnitude.new_zeros(magnitude.shape[0], 0)
        return griffin_lim(magnitude, self.n_fft, self.hop_length, self.window, self.griffin_lim_iters, length)

    # -- files
    def state(self):
        self._check_fitted()
        return {"kind": self.kind, "format_version": FORMAT_VERSION, "config": self.config(), "mean": self.mean,
                "codebooks": self.codebooks, "fit_report": self.fit_report}

    def save(self, path):
        from speechslytherin.utils.atomic import torch_save_atomic

        torch_save_atomic(self.state(), path)
        return path

    @classmethod
    def from_state(cls, state, where="<state>"):
        try:
            codec = cls(**state["config"])
            codec.mean = state["mean"].float()
            codec.codebooks = state["codebooks"].float()
        except (KeyError, TypeError, AttributeError) as err:
            raise CodecError(f"{where}: not a mel-rvq codec file ({err}); re-run the codec fit "
                             "(python -m speechslytherin.bin.fit_codec).") from None
        if tuple(codec.codebooks.shape) != (codec.n_q, codec.codebook_size, codec.n_mels):
            raise CodecError(f"{where}: codebooks of shape {tuple(codec.codebooks.shape)} do not match the config "
                             f"({codec.n_q}, {codec.codebook_size}, {codec.n_mels}); re-fit the codec.")
        codec.fit_report = state.get("fit_report", {})
        return codec


def nearest(x, centroids, chunk=16384):
    """Index of the nearest centroid (squared Euclidean) of each row of x [N, D]."""
    c_norm = centroids.pow(2).sum(1)
    out = []
    for start in range(0, x.shape[0], chunk):
        part = x[start:start + chunk]
        out.append((c_norm[None] - 2 * part @ centroids.T).argmin(1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def kmeans(x, k, iterations, generator):
    """Lloyd's k-means from k random rows; an empty cluster takes the worst-fitted point."""
    centroids = x[torch.randperm(x.shape[0], generator=generator)[:k]].clone()
    for _ in range(int(iterations)):
        index = nearest(x, centroids)
        sums = torch.zeros_like(centroids).index_add_(0, index, x)
        counts = torch.bincount(index, minlength=k).to(x.dtype)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
        empty = (~filled).nonzero().flatten()
        if len(empty):
            error = (x - centroids[index]).pow(2).sum(1)
            centroids[empty] = x[error.topk(len(empty)).indices]
    return centroids


def griffin_lim(magnitude, n_fft, hop_length, window, iterations, length, momentum=0.99):
    """Fast Griffin-Lim (with momentum, as torchaudio's) from a magnitude [B, F, T'] to audio [B, length]."""
    gen = torch.Generator().manual_seed(0)  # deterministic initial phase
    angles = torch.exp(2j * math.pi * torch.rand(magnitude.shape, generator=gen))
    previous = torch.zeros_like(angles)
    wav = None
    for _ in range(max(1, int(iterations))):
        wav = torch.istft(magnitude * angles, n_fft, hop_length, window=window, length=length)
        # A model may stop after one or two frames: reflect padding needs more than n_fft / 2 samples.
        pad_mode = "reflect" if wav.shape[-1] > n_fft // 2 else "constant"
        rebuilt = torch.stft(wav, n_fft, hop_length, window=window, return_complex=True, pad_mode=pad_mode)
        accelerated = rebuilt - (momentum / (1 + momentum)) * previous
        previous = rebuilt
        angles = accelerated / accelerated.abs().clamp(min=1e-16)
    wav = torch.istft(magnitude * angles, n_fft, hop_length, window=window, length=length)
    return wav


# ----------------------------------------------------------------------------- EnCodec
def encodec_url():
    """Download address of the 24 kHz weights, as the encodec package builds it."""
    try:
        from encodec.model import ROOT_URL
    except ImportError:
        return None
    return ROOT_URL.rstrip("/") + "/" + ENCODEC_CHECKPOINT


def find_encodec_weights(location=None):
    """Path of encodec_24khz-d7cc33bc.th: `location` (the file or a folder holding it), else the
    torch hub cache; raises CodecError naming the file, its checksum and where to put it."""
    candidates = []
    if location:
        location = os.fspath(location)
        candidates.append(location if not os.path.isdir(location) else os.path.join(location, ENCODEC_CHECKPOINT))
    hub = os.path.join(torch.hub.get_dir(), "checkpoints", ENCODEC_CHECKPOINT)
    candidates.append(hub)
    for path in candidates:
        if os.path.isfile(path):
            return path
    checksum = ENCODEC_CHECKPOINT.rsplit("-", 1)[1].split(".")[0]
    url = encodec_url() or "the encodec package's download address"
    raise CodecError(
        f"EnCodec 24 kHz weights not found (looked at: {', '.join(candidates)}). The file is {ENCODEC_CHECKPOINT} "
        f"(sha256 starting with {checksum}); this machine cannot download it. Fetch {url} on a machine with "
        f"internet and put it into {os.path.dirname(hub)} (the torch hub cache) or pass its folder/file "
        "(--encodec-dir / load_codec(path)).")


def _check_sha256_prefix(path, prefix):
    import hashlib

    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    if not sha.hexdigest().startswith(prefix):
        raise CodecError(f"{path}: sha256 {sha.hexdigest()[:8]}... does not start with {prefix}; the file is "
                         f"damaged or not {ENCODEC_CHECKPOINT}. Download it again.")


class EncodecCodec:
    """EnCodec 24 kHz at 6 kbps through the encodec package (see module doc).

    weights: the checkpoint file or its folder (None: the torch hub cache). random_init=True
    builds the exact architecture untrained, without any file: for shape tests only.
    """

    kind = "encodec"

    def __init__(self, weights=None, bandwidth=ENCODEC_BANDWIDTH, random_init=False, device="cpu"):
        try:
            from encodec import EncodecModel
        except ImportError as err:
            raise CodecError(f"the encodec package cannot be imported ({err}); install it: pip install encodec") from None
        self.weights = None if random_init else find_encodec_weights(weights)
        model = EncodecModel.encodec_model_24khz(pretrained=False)
        if self.weights:
            _check_sha256_prefix(self.weights, ENCODEC_CHECKPOINT.rsplit("-", 1)[1].split(".")[0])
            model.load_state_dict(torch.load(self.weights, map_location="cpu"))
        model.set_target_bandwidth(float(bandwidth))
        self.model = model.eval().to(device)
        self.device = device
        self.bandwidth = float(bandwidth)
        self.sample_rate = int(model.sample_rate)
        self.frame_rate = self.sample_rate / int(np.prod(model.encoder.ratios))
        self.n_q = int(model.quantizer.get_num_quantizers_for_bandwidth(model.frame_rate, self.bandwidth))
        self.codebook_size = int(model.quantizer.bins)
        self.random_init = bool(random_init)

    @torch.no_grad()
    def encode(self, wav):
        frames = self.model.encode(as_batch(wav)[:, None].to(self.device))
        return torch.cat([codes for codes, _ in frames], -1).long().cpu()

    @torch.no_grad()
    def decode(self, codes):
        codes = torch.as_tensor(codes).long()
        if codes.dim() == 2:
            codes = codes[None]
        return self.model.decode([(codes.to(self.device), None)])[:, 0].cpu()

    def state(self):
        """The spec stage 2 writes as data/codec.pt (weights are found again when loading)."""
        return {"kind": self.kind, "format_version": FORMAT_VERSION, "bandwidth": self.bandwidth,
                "weights": self.weights}

    def save(self, path):
        from speechslytherin.utils.atomic import torch_save_atomic

        torch_save_atomic(self.state(), path)
        return path


# ----------------------------------------------------------------------------- loading
def load_codec(path, device="cpu"):
    """A codec from a codec file (mel-rvq fit or EnCodec spec, as bin/fit_codec writes), a folder
    holding codec.pt, or an EnCodec checkpoint file / folder."""
    path = os.fspath(path)
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "codec.pt")):
            path = os.path.join(path, "codec.pt")
        else:
            return EncodecCodec(path, device=device)
    if not os.path.isfile(path):
        raise CodecError(f"{path}: codec file not found. Fit or describe the codec first "
                         "(python -m speechslytherin.bin.fit_codec, the recipe's stage 2).")
    if os.path.basename(path) == ENCODEC_CHECKPOINT:
        return EncodecCodec(path, device=device)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
        raise CodecError(f"{path}: cannot be read as a codec file ({err}). Re-run bin/fit_codec.") from None
    kind = state.get("kind") if isinstance(state, dict) else None
    if kind == MelRVQCodec.kind:
        return MelRVQCodec.from_state(state, path)
    if kind == EncodecCodec.kind:
        weights = state.get("weights")
        if weights and not os.path.isfile(weights):
            weights = None  # moved machines: look in the hub cache
        return EncodecCodec(weights, bandwidth=state.get("bandwidth", ENCODEC_BANDWIDTH), device=device)
    raise CodecError(f"{path}: unknown codec kind {kind!r} (expected '{MelRVQCodec.kind}' or "
                     f"'{EncodecCodec.kind}'). Re-run bin/fit_codec.")
