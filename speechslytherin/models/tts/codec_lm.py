"""The codec language model shared by VALL-E and VALL-M: an AR decoder over
[phonemes ; first-codebook codes] and a NAR decoder for the other codebooks.

The structure follows the lifeiteng/vall-e VALLE model (see docs/tts_decoding.md and
shared/reference/vallm_tts.md section 2.1), written afresh:

- AR: text embedding + sine positions (learnable alpha), audio embedding (codebook_size + 1
  entries, id codebook_size = EOS), one pre-norm decoder over the sequence, a linear head
  over codebook_size + 1 classes. Attention uses the prefix-LM mask (phonemes see all
  phonemes, audio sees all phonemes and earlier audio). The input is the first-level codes
  and the target the same codes shifted left with EOS appended (no BOS, as in lifeiteng:
  synthesis always starts from an acoustic prompt).
- NAR: a random stage j in 1..n_q-1 per training step; input = text + acoustic prompt (all
  levels summed, prefix mode 1: a random prefix of 25-50 % of the shortest utterance, at
  most 225 frames) + the rest of the utterance with levels < j summed; adaptive LayerNorm
  conditioned on a per-stage embedding; one head per stage.

Every sequence is *packed* per sample as [text_i ; audio_i ; padding] (right padding only),
so a causal Mamba stream never runs pad tokens between text and audio. Attention gets the
equivalent masks. Each decoder layer is pre-norm: x + mixer(norm(x)), x + ffn(norm(x)), and
the mixer is switchable: ``attn`` (multi-head self-attention with a KV cache), ``mamba``
(causal Mamba with its recurrent state) or ``bimamba`` (bimamba v2, NAR only).
"""

import math
import random

import torch
import torch.nn as nn
import torch.nn.functional as F

from speechslytherin.nnet.mamba import Mamba

MIXERS = ("attn", "mamba", "bimamba")
AR_LAYOUTS = ("decoder_only", "crossmamba")
PRESETS = {
    # name: (d_model, nhead, num_layers)
    "paper": (1024, 16, 12),  # VALL-E paper / lifeiteng LibriTTS recipe
    "small": (256, 8, 6),  # lifeiteng issue #184 (LJSpeech)
    "nano": (128, 4, 4),  # lifeiteng "nano" (issue #1)
    "tiny": (32, 2, 1),  # tests only
}
PROMPT_MAX_FRAMES = 225  # lifeiteng prefix mode 1: at most 3 s at 75 Hz


def resolve_preset(preset, d_model, nhead, num_layers):
    """Explicit sizes win over the preset's; error names the known presets."""
    if preset is None:
        base = (None, None, None)
    elif preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise ValueError(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS)}")
    sizes = [given if given is not None else default for given, default in zip((d_model, nhead, num_layers), base)]
    if None in sizes:
        raise ValueError("give a preset or all of d_model, nhead, num_layers")
    return tuple(int(s) for s in sizes)


class SinePositionalEmbedding(nn.Module):
    """x + alpha * sinusoid(position); alpha is learnable (lifeiteng's alpha=True, scale=False)."""

    def __init__(self, d_model, dropout=0.0):
        super().__init__()
        self.d_model = d_model
        self.alpha = nn.Parameter(torch.ones(1))
        self.dropout = nn.Dropout(dropout)

    def table(self, positions):
        """Sinusoids of the integer positions [..., T] -> [..., T, d_model]."""
        half = torch.arange(0, self.d_model, 2, device=positions.device, dtype=torch.float32)
        inv_freq = torch.exp(half * (-math.log(10000.0) / self.d_model))
        angle = positions.float().unsqueeze(-1) * inv_freq
        pe = torch.zeros(*positions.shape, self.d_model, device=positions.device)
        pe[..., 0::2] = torch.sin(angle)
        pe[..., 1::2] = torch.cos(angle)
        return pe

    def forward(self, x, offset=0):
        positions = torch.arange(offset, offset + x.shape[1], device=x.device)
        return self.dropout(x + self.alpha * self.table(positions).to(x.dtype))


class AdaptiveLayerNorm(nn.Module):
    """LayerNorm whose gain and bias come from a conditioning vector (the NAR stage)."""

    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.norm = nn.LayerNorm(d_model, eps=eps)
        self.project_layer = nn.Linear(d_model, 2 * d_model)
        self.d_model = d_model

    def forward(self, x, cond):
        weight, bias = self.project_layer(cond).split(self.d_model, dim=-1)
        return weight * self.norm(x) + bias


class SelfAttention(nn.Module):
    """Multi-head self-attention. ``allowed`` [B, Tq, Tk] bool (True = may attend).
    ``step`` appends the new keys/values to a cache, so decoding costs O(T) per token."""

    def __init__(self, d_model, nhead, dropout=0.0):
        super().__init__()
        if d_model % nhead:
            raise ValueError(f"d_model {d_model} is not divisible by nhead {nhead}")
        self.nhead, self.dropout = nhead, dropout
        self.in_proj = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def _heads(self, x):
        b, t, d = x.shape
        return x.view(b, t, self.nhead, d // self.nhead).transpose(1, 2)

    def _attend(self, q, k, v, allowed):
        mask = None if allowed is None else allowed.unsqueeze(1)
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        b, h, t, dh = y.shape
        return self.out_proj(y.transpose(1, 2).reshape(b, t, h * dh))

    def forward(self, x, allowed=None):
        q, k, v = (self._heads(t) for t in self.in_proj(x).chunk(3, dim=-1))
        return self._attend(q, k, v, allowed)

    def empty_cache(self, batch):
        return None

    def step(self, x, cache, allowed=None):
        """x [B, T, d]: the next T tokens. Without ``allowed`` they see all cached tokens and
        each other causally. Returns (y, cache)."""
        q, k, v = (self._heads(t) for t in self.in_proj(x).chunk(3, dim=-1))
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        if allowed is None and x.shape[1] > 1:
            t_new, t_all = x.shape[1], k.shape[2]
            rows = torch.arange(t_all - t_new, t_all, device=x.device)[:, None]
            allowed = (torch.arange(t_all, device=x.device)[None] <= rows).expand(x.shape[0], -1, -1)
        return self._attend(q, k, v, allowed), (k, v)


class MambaMixer(nn.Module):
    """The core Mamba mixer as a drop-in for self-attention (masks are ignored: a causal
    Mamba never looks ahead; the packing keeps padding after the valid tokens)."""

    def __init__(self, d_model, bidirectional=False, d_state=16, d_conv=4, expand=2):
        super().__init__()
        self.bidirectional = bidirectional
        self.mamba = Mamba(d_model, d_state=d_state, d_conv=d_conv, expand=expand,
                           bimamba_type="v2" if bidirectional else "none")

    def forward(self, x, allowed=None):
        return self.mamba(x)

    def empty_cache(self, batch):
        return self.mamba.allocate_inference_state(batch)

    def step(self, x, cache, allowed=None):
        if x.shape[1] == 1:
            return self._step_one(x, cache)
        return self.mamba.step(x, cache)

    def _step_one(self, x, cache):
        """One token without the general chunk scan: the same recurrence written out (conv
        window shift, h = exp(dt A) h + dt B x, y = C h + D x, gated), constant work per token."""
        m = self.mamba
        conv_state, ssm_state = cache
        xz = m.in_proj(x[:, 0])
        xi, z = xz.chunk(2, dim=-1)
        conv_state = torch.cat([conv_state[..., 1:], xi[..., None].to(conv_state.dtype)], dim=-1)
        xc = (conv_state * m.conv1d.weight[:, 0]).sum(-1)
        if m.conv1d.bias is not None:
            xc = xc + m.conv1d.bias
        xc = F.silu(xc)
        dt, Bm, Cm = m.x_proj(xc).split([m.dt_rank, m.d_state, m.d_state], dim=-1)
        delta = F.softplus(m.dt_proj(dt)).float()
        A = -torch.exp(m.A_log.float())
        ssm_state = ssm_state * torch.exp(delta[..., None] * A) + (delta * xc.float())[..., None] * Bm.float()[:, None]
        y = (ssm_state @ Cm.float()[..., None]).squeeze(-1) + m.D.float() * xc.float()
        y = (y * F.silu(z.float())).to(x.dtype)
        return m.out_proj(y)[:, None], (conv_state, ssm_state)


def make_mixer(kind, d_model, nhead, dropout, mamba_config):
    if kind == "attn":
        return SelfAttention(d_model, nhead, dropout)
    if kind in ("mamba", "bimamba"):
        return MambaMixer(d_model, bidirectional=kind == "bimamba", **(mamba_config or {}))
    raise ValueError(f"unknown mixer {kind!r}; use one of {MIXERS}")


class DecoderLayer(nn.Module):
    """Pre-norm layer: x + drop(mixer(norm1(x))), x + drop(ffn(norm2(x))); AdaLN when
    ``adaptive`` (the norms then take the stage embedding)."""

    def __init__(self, d_model, nhead, mixer, dim_feedforward, dropout, adaptive, mamba_config):
        super().__init__()
        self.adaptive = adaptive
        self.mixer = make_mixer(mixer, d_model, nhead, dropout, mamba_config)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        norm = AdaptiveLayerNorm if adaptive else nn.LayerNorm
        self.norm1, self.norm2 = norm(d_model), norm(d_model)
        self.dropout = nn.Dropout(dropout)

    def _norm(self, norm, x, cond):
        return norm(x, cond) if self.adaptive else norm(x)

    def _ffn(self, x, cond):
        h = self.linear2(self.dropout(F.relu(self.linear1(self._norm(self.norm2, x, cond)))))
        return x + self.dropout(h)

    def forward(self, x, allowed=None, cond=None):
        x = x + self.dropout(self.mixer(self._norm(self.norm1, x, cond), allowed))
        return self._ffn(x, cond)

    def step(self, x, cache, allowed=None, cond=None):
        y, cache = self.mixer.step(self._norm(self.norm1, x, cond), cache, allowed)
        return self._ffn(x + self.dropout(y), cond), cache


class Decoder(nn.Module):
    """num_layers DecoderLayers and a final (adaptive) LayerNorm."""

    def __init__(self, num_layers, d_model, nhead, mixer, dim_feedforward, dropout, adaptive=False,
                 mamba_config=None):
        super().__init__()
        self.mixer, self.adaptive = mixer, adaptive
        self.layers = nn.ModuleList([
            DecoderLayer(d_model, nhead, mixer, dim_feedforward, dropout, adaptive, mamba_config)
            for _ in range(num_layers)])
        self.norm = AdaptiveLayerNorm(d_model) if adaptive else nn.LayerNorm(d_model)

    def _final(self, x, cond):
        return self.norm(x, cond) if self.adaptive else self.norm(x)

    def forward(self, x, allowed=None, cond=None):
        for layer in self.layers:
            x = layer(x, allowed, cond)
        return self._final(x, cond)

    def empty_cache(self, batch):
        return [layer.mixer.empty_cache(batch) for layer in self.layers]

    def step(self, x, caches, allowed=None, cond=None):
        new = []
        for layer, cache in zip(self.layers, caches):
            x, cache = layer.step(x, cache, allowed, cond)
            new.append(cache)
        return self._final(x, cond), new


# -- packing -------------------------------------------------------------------------------
def lengths_mask(lengths, total):
    return torch.arange(total, device=lengths.device)[None] < lengths[:, None]


def pack(x, x_lens, y, y_lens):
    """[x_i ; y_i ; pad] per sample: x [B, Tx, d], y [B, Ty, d] -> [B, max(x_len + y_len), d]."""
    total = int((x_lens + y_lens).max())
    out = x.new_zeros(x.shape[0], total, x.shape[-1])
    for b, (nx, ny) in enumerate(zip(x_lens.tolist(), y_lens.tolist())):
        out[b, :nx] = x[b, :nx]
        out[b, nx:nx + ny] = y[b, :ny]
    return out


def unpack_y(packed, x_lens, y_lens, total_y):
    """The y part of each packed sample, right-padded to total_y: [B, total_y, d]."""
    out = packed.new_zeros(packed.shape[0], total_y, packed.shape[-1])
    for b, (nx, ny) in enumerate(zip(x_lens.tolist(), y_lens.tolist())):
        out[b, :ny] = packed[b, nx:nx + ny]
    return out


def prefix_lm_mask(x_lens, y_lens):
    """allowed[b, i, j] for the packed AR sequence: text rows see all text of the sample, audio
    rows see all text and audio up to themselves; padding is never attended (pad rows see
    themselves only, so no row is empty)."""
    total = int((x_lens + y_lens).max())
    pos = torch.arange(total, device=x_lens.device)
    valid = pos[None] < (x_lens + y_lens)[:, None]  # [B, T]
    is_text = pos[None] < x_lens[:, None]
    text_rows = is_text[:, :, None] & is_text[:, None, :]
    audio_rows = (~is_text)[:, :, None] & (pos[None, None, :] <= pos[None, :, None])
    allowed = (text_rows | audio_rows) & valid[:, None, :] & valid[:, :, None]
    return allowed | torch.eye(total, dtype=torch.bool, device=x_lens.device)[None]


def padding_mask(lens):
    """allowed[b, i, j]: every valid token sees every valid token; pad rows see themselves."""
    total = int(lens.max())
    valid = lengths_mask(lens, total)
    allowed = valid[:, None, :] & valid[:, :, None]
    return allowed | torch.eye(total, dtype=torch.bool, device=lens.device)[None]


def top_k_sample(logits, top_k, temperature):
    """Sample from the top_k logits (top_k <= 0: all) after dividing by the temperature."""
    logits = logits / max(float(temperature), 1e-5)
    if top_k and top_k > 0 and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(torch.softmax(logits, dim=-1), 1).squeeze(-1)


def topk_accuracy(logits, targets, k=10):
    """Share of targets among the k best logits (lifeiteng logs top-10 accuracy)."""
    k = min(k, logits.shape[-1])
    hit = (torch.topk(logits, k, dim=-1).indices == targets[..., None]).any(-1)
    return hit.float().mean()


class CodecLM(nn.Module):
    """AR + NAR codec language model; subclasses (VALLE, VALLM) choose the mixers.

    forward(phonemes [B, Tp], phoneme_lens [B], codes [B, n_q, Tc], code_lens [B], stage)
    -> dict(loss, acc, ...); synthesize(...) -> codes [1, n_q, T]."""

    def __init__(self, d_model, nhead, num_layers, ar_mixer="attn", nar_mixer="attn", n_codebooks=8,
                 codebook_size=1024, num_text_tokens=512, dim_feedforward=None, dropout=0.1,
                 share_embedding=True, prefix_mode=1, mamba_config=None, ar_layout="decoder_only",
                 encoder_layers=None, ar_input_noise=0.0):
        super().__init__()
        if not 0.0 <= float(ar_input_noise) < 1.0:
            raise ValueError(f"ar_input_noise is a share of input frames in [0, 1), got {ar_input_noise}")
        if ar_layout not in AR_LAYOUTS:
            raise ValueError(f"ar_layout must be one of {AR_LAYOUTS}, got {ar_layout!r}")
        if ar_layout == "crossmamba" and ar_mixer != "mamba":
            raise ValueError("ar_layout 'crossmamba' is the Mamba encoder-decoder: set ar_mixer to 'mamba'")
        if ar_mixer not in ("attn", "mamba"):
            raise ValueError(f"ar_mixer must be 'attn' or 'mamba' (the AR decoder is causal), got {ar_mixer!r}")
        if nar_mixer not in MIXERS:
            raise ValueError(f"nar_mixer must be one of {MIXERS}, got {nar_mixer!r}")
        if prefix_mode not in (0, 1):
            raise ValueError(f"prefix_mode {prefix_mode} not implemented; use 1 (published) or 0 (no prompt)")
        if n_codebooks < 2:
            raise ValueError("n_codebooks must be >= 2 (one AR level and at least one NAR level)")
        self.d_model, self.n_codebooks, self.codebook_size = d_model, n_codebooks, codebook_size
        self.ar_mixer, self.nar_mixer, self.prefix_mode = ar_mixer, nar_mixer, prefix_mode
        self.ar_layout, self.ar_input_noise = ar_layout, float(ar_input_noise)
        self.eos = codebook_size
        ffn = dim_feedforward or 4 * d_model
        # AR
        self.ar_text_embedding = nn.Embedding(num_text_tokens, d_model)
        self.ar_audio_embedding = nn.Embedding(codebook_size + 1, d_model)
        self.ar_text_position = SinePositionalEmbedding(d_model, dropout)
        self.ar_audio_position = SinePositionalEmbedding(d_model, dropout)
        if ar_layout == "crossmamba":
            from speechslytherin.models.tts.crossmamba_ar import CrossMambaAR

            self.ar_decoder = CrossMambaAR(num_layers, d_model, ffn, dropout, encoder_layers, mamba_config)
        else:
            self.ar_decoder = Decoder(num_layers, d_model, nhead, ar_mixer, ffn, dropout, False, mamba_config)
        self.ar_predict_layer = nn.Linear(d_model, codebook_size + 1, bias=False)
        # NAR: level 0 has an EOS/pad entry like the AR table, the others do not
        self.nar_text_embedding = nn.Embedding(num_text_tokens, d_model)
        self.nar_audio_embeddings = nn.ModuleList(
            [nn.Embedding(codebook_size + 1, d_model)]
            + [nn.Embedding(codebook_size, d_model) for _ in range(n_codebooks - 1)])
        self.nar_text_position = SinePositionalEmbedding(d_model, dropout)
        self.nar_audio_position = SinePositionalEmbedding(d_model, dropout)
        self.nar_decoder = Decoder(num_layers, d_model, nhead, nar_mixer, ffn, dropout, True, mamba_config)
        self.nar_predict_layers = nn.ModuleList(
            [nn.Linear(d_model, codebook_size, bias=False) for _ in range(n_codebooks - 1)])
        self.nar_stage_embeddings = nn.ModuleList([nn.Embedding(1, d_model) for _ in range(n_codebooks - 1)])
        if share_embedding:  # as lifeiteng: heads tied to the embeddings of the level they predict
            self.ar_predict_layer.weight = self.ar_audio_embedding.weight
            for j in range(n_codebooks - 2):
                self.nar_predict_layers[j].weight = self.nar_audio_embeddings[j + 2].weight

    # -- checks ------------------------------------------------------------------------------
    def _check(self, phonemes, phoneme_lens, codes, code_lens):
        if codes.dim() != 3 or codes.shape[1] != self.n_codebooks:
            raise ValueError(f"codes must be [B, {self.n_codebooks}, T], got {tuple(codes.shape)}")
        if phonemes.dim() != 2 or phonemes.shape[0] != codes.shape[0]:
            raise ValueError(f"phonemes must be [B, Tp] with B = {codes.shape[0]}, got {tuple(phonemes.shape)}")
        if int(codes.max()) >= self.codebook_size or int(codes.min()) < 0:
            raise ValueError(f"codes must lie in 0..{self.codebook_size - 1}; got {int(codes.min())}.."
                             f"{int(codes.max())} (wrong codebook_size for this codec?)")
        if int(phonemes.max()) >= self.ar_text_embedding.num_embeddings:
            raise ValueError(f"phoneme id {int(phonemes.max())} >= num_text_tokens "
                             f"{self.ar_text_embedding.num_embeddings}; raise model.num_text_tokens")

    # -- training ----------------------------------------------------------------------------
    def forward(self, phonemes, phoneme_lens, codes, code_lens, stage="ar"):
        self._check(phonemes, phoneme_lens, codes, code_lens)
        if stage == "ar":
            return self.ar_loss(phonemes, phoneme_lens, codes, code_lens)
        if stage == "nar":
            return self.nar_loss(phonemes, phoneme_lens, codes, code_lens)
        if stage == "both":
            ar = self.ar_loss(phonemes, phoneme_lens, codes, code_lens)
            nar = self.nar_loss(phonemes, phoneme_lens, codes, code_lens)
            return {"loss": ar["loss"] + nar["loss"], "acc": 0.5 * (ar["acc"] + nar["acc"]),
                    "ar_loss": ar["loss"].detach(), "nar_loss": nar["loss"].detach(),
                    "ar_acc": ar["acc"], "nar_acc": nar["acc"]}
        raise ValueError(f"stage must be 'ar', 'nar' or 'both', got {stage!r}")

    def _ar_hidden(self, phonemes, phoneme_lens, y_in, y_lens):
        x = self.ar_text_position(self.ar_text_embedding(phonemes))
        y = self.ar_audio_position(self.ar_audio_embedding(y_in))
        if self.ar_layout == "crossmamba":
            return self.ar_decoder(x, phoneme_lens, y, y_lens)
        packed = pack(x, phoneme_lens, y, y_lens)
        allowed = prefix_lm_mask(phoneme_lens, y_lens) if self.ar_mixer == "attn" else None
        return unpack_y(self.ar_decoder(packed, allowed), phoneme_lens, y_lens, y_in.shape[1])

    def _ar_prefill(self, x, y):
        """Batch 1: text + prompt embeddings once; returns (hidden of the prompt frames, caches)."""
        if self.ar_layout == "crossmamba":
            return self.ar_decoder.prefill(x, y)
        allowed = None
        if self.ar_mixer == "attn":
            allowed = prefix_lm_mask(torch.tensor([x.shape[1]]), torch.tensor([y.shape[1]])).to(x.device)
        hidden, caches = self.ar_decoder.step(torch.cat([x, y], dim=1), self.ar_decoder.empty_cache(1), allowed)
        return hidden[:, x.shape[1]:], caches

    def ar_loss(self, phonemes, phoneme_lens, codes, code_lens):
        """Teacher-forced first level: input y_0..y_{T-1}, target y_1..y_{T-1}, EOS."""
        y = codes[:, 0]
        valid = lengths_mask(code_lens, y.shape[1])
        y_in = y.masked_fill(~valid, self.eos)
        targets = F.pad(y_in[:, 1:], (0, 1), value=self.eos)
        if self.training and self.ar_input_noise:
            # Teacher-forced frames alone predict the next frame well; replacing a share of the
            # input frames by random codes (targets stay clean) pushes the AR to read the text,
            # as Tacotron's always-on prenet dropout does. Not in VALL-E; 0 = off.
            noisy = (torch.rand(y_in.shape, device=y_in.device) < self.ar_input_noise) & valid
            y_in = torch.where(noisy, torch.randint_like(y_in, self.codebook_size), y_in)
        hidden = self._ar_hidden(phonemes, phoneme_lens, y_in, code_lens)
        logits = self.ar_predict_layer(hidden)
        loss = F.cross_entropy(logits[valid], targets[valid])
        return {"loss": loss, "acc": topk_accuracy(logits[valid].detach(), targets[valid])}

    def _nar_inputs(self, phonemes, codes, prefix_len, stage):
        """Text embedding and audio input (prompt: all levels; rest: levels < stage)."""
        x = self.nar_text_position(self.nar_text_embedding(phonemes))
        y = self.nar_audio_embeddings[0](codes[:, 0])
        for j in range(1, self.n_codebooks):
            e = self.nar_audio_embeddings[j](codes[:, j])
            if j < stage:
                y = y + e
            elif prefix_len > 0:
                y = y + F.pad(e[:, :prefix_len], (0, 0, 0, e.shape[1] - prefix_len))
        return x, self.nar_audio_position(y)

    def _nar_decode(self, x, x_lens, y, y_lens, stage):
        cond = self.nar_stage_embeddings[stage - 1].weight  # [1, d]
        if self.nar_mixer == "bimamba":
            # right padding would flow into the backward scan: run each sample at its own length
            out = y.new_zeros(y.shape)
            for b in range(y.shape[0]):
                nx, ny = int(x_lens[b]), int(y_lens[b])
                seq = torch.cat([x[b:b + 1, :nx], y[b:b + 1, :ny]], dim=1)
                out[b, :ny] = self.nar_decoder(seq, None, cond)[0, nx:]
            return out
        packed = pack(x, x_lens, y, y_lens)
        allowed = padding_mask(x_lens + y_lens) if self.nar_mixer == "attn" else None
        return unpack_y(self.nar_decoder(packed, allowed, cond), x_lens, y_lens, y.shape[1])

    def nar_loss(self, phonemes, phoneme_lens, codes, code_lens, stage=None):
        stage = stage or random.randint(1, self.n_codebooks - 1)
        prefix_len = 0
        if self.prefix_mode == 1:
            low = int(0.25 * int(code_lens.min()))
            prefix_len = min(random.randint(low, max(low, 2 * low - 1)), PROMPT_MAX_FRAMES) if low > 0 else 0
        x, y = self._nar_inputs(phonemes, codes, prefix_len, stage)
        hidden = self._nar_decode(x, phoneme_lens, y, code_lens, stage)
        logits = self.nar_predict_layers[stage - 1](hidden)
        targets = codes[:, stage]
        valid = lengths_mask(code_lens, codes.shape[2])
        valid[:, :prefix_len] = False
        loss = F.cross_entropy(logits[valid], targets[valid])
        return {"loss": loss, "acc": topk_accuracy(logits[valid].detach(), targets[valid]),
                "nar_stage": torch.tensor(float(stage))}

    # -- synthesis ---------------------------------------------------------------------------
    @torch.no_grad()
    def ar_generate(self, text, prompt_y, top_k=-100, temperature=1.0, max_len=None, min_len=0):
        """First-level codes after the prompt: text [1, Tp] (prompt + target phonemes),
        prompt_y [1, Tq]. Incremental: a KV cache (attn) or the recurrent state (mamba).
        Stops at EOS (argmax or sample, as lifeiteng) or after max_len frames."""
        if prompt_y.shape[1] < 1:
            raise ValueError("the AR decoder needs an acoustic prompt of at least one frame")
        max_len = max_len or 16 * text.shape[1]
        nq = prompt_y.shape[1]
        x = self.ar_text_position(self.ar_text_embedding(text))
        y = self.ar_audio_position(self.ar_audio_embedding(prompt_y))
        hidden, caches = self._ar_prefill(x, y)
        out = []
        while True:
            logits = self.ar_predict_layer(hidden[:, -1])
            if len(out) < min_len:
                logits[:, self.eos] = float("-inf")
            sample = top_k_sample(logits, top_k, temperature)
            if len(out) >= min_len and (int(logits.argmax(-1)) == self.eos or int(sample) == self.eos):
                break
            out.append(int(sample))
            if len(out) >= max_len:
                break
            emb = self.ar_audio_embedding(sample[:, None])
            emb = self.ar_audio_position(emb, offset=nq + len(out) - 1)
            hidden, caches = self.ar_decoder.step(emb, caches)
        return torch.tensor([out], dtype=torch.long, device=text.device)

    @torch.no_grad()
    def nar_generate(self, text, prompt_codes, y0):
        """Levels 1..n_q-1 by greedy NAR stages; returns [1, n_q, T] for the generated part."""
        nq = prompt_codes.shape[2]
        full = torch.cat([prompt_codes[:, :, :], F.pad(y0[:, None], (0, 0, 0, self.n_codebooks - 1))], dim=2)
        x_lens = torch.tensor([text.shape[1]], device=text.device)
        y_lens = torch.tensor([full.shape[2]], device=text.device)
        prefix = nq if self.prefix_mode == 1 else 0
        for stage in range(1, self.n_codebooks):
            x, y = self._nar_inputs(text, full, prefix, stage)
            hidden = self._nar_decode(x, x_lens, y, y_lens, stage)
            full[:, stage, nq:] = self.nar_predict_layers[stage - 1](hidden[:, nq:]).argmax(-1)
        return full[:, :, nq:]

    @torch.no_grad()
    def synthesize(self, phonemes, prompt_phonemes, prompt_codes, top_k=-100, temperature=1.0, max_len=None,
                   min_len=0):
        """phonemes [1, Tp], prompt_phonemes [1, Tpp], prompt_codes [1, n_q, Tq] -> codes [1, n_q, T]
        of the new speech only (T may be 0 if the AR emits EOS at once: an undertrained model)."""
        if prompt_codes.dim() != 3 or prompt_codes.shape[1] != self.n_codebooks:
            raise ValueError(f"prompt_codes must be [1, {self.n_codebooks}, Tq], got {tuple(prompt_codes.shape)}")
        text = torch.cat([prompt_phonemes, phonemes], dim=1)
        y0 = self.ar_generate(text, prompt_codes[:, 0], top_k, temperature, max_len, min_len)
        if y0.shape[1] == 0:
            return prompt_codes.new_zeros(1, self.n_codebooks, 0)
        return self.nar_generate(text, prompt_codes, y0)
