"""The toolkit's attention/CTC speech recognizer: waveform in, text out.

    Fbank (80) -> global normalisation -> CNN front end (2 blocks, 4x down) -> encoder
    (ConMamba or Conformer) -> CTC head (+ Transformer or Mamba decoder -> attention head)

The network proper is ``self.model``, a ``ModuleList([CNN, Transformer, seq_lin, ctc_lin])``
(``[CNN, Transformer, ctc_lin]`` for CTC-only models) built exactly like the official
xi-j/Mamba-ASR recipes, so ``self.model.state_dict()`` has the official keys and an official
SpeechBrain ``model.ckpt`` loads into it (``normalizer.ckpt`` into ``self.normalize``).
Training loss: ``ctc_weight * CTC + (1 - ctc_weight) * KL-div with label smoothing``. Decoding:
SpeechBrain's joint CTC/attention beam search (``S2STransformerBeamSearcher`` with a CTC scorer
and optional Transformer LM shallow fusion), or CTC greedy for CTC-only models. The SentencePiece
tokenizer travels inside the model file (``tokenizer`` argument, base64), so a saved model
transcribes with nothing else on disk.
"""

import torch
from torch import nn
from speechbrain.lobes.features import Fbank
from speechbrain.lobes.models.convolution import ConvolutionFrontEnd
from speechbrain.nnet.linear import Linear

from speechslytherin.models.asr.conmamba import activation_class
from speechslytherin.models.asr.normalization import GlobalNormalization
from speechslytherin.models.asr.tokenizer import (
    TokenizerError,
    check_tokenizer,
    encode_tokenizer,
    load_processor,
    read_tokenizer_bytes,
)
from speechslytherin.models.base import SelfDescribing

ENCODERS = ("conmamba", "conformer")
DECODERS = ("transformer", "mamba", None)
DECODING_DEFAULTS = {
    "beam_size": 10,  # official valid searcher (no LM); the LM test searcher uses 66
    "ctc_weight": 0.4,  # CTC share of the joint score in decoding
    "lm_weight": 0.0,  # Transformer LM shallow fusion (0.6 in the official LM decoding)
    "temperature": 1.0,  # official LM decoding: 1.15
    "lm_temperature": 1.15,
    "min_decode_ratio": 0.0,
    "max_decode_ratio": 1.0,
    "length_normalization": True,
    "using_eos_threshold": False,
}
LM_DEFAULTS = {"d_model": 768, "nhead": 12, "num_layers": 12, "d_ffn": 3072}  # speechbrain LibriSpeech LM


class ASRModel(SelfDescribing, nn.Module):
    """ConMamba / Conformer joint CTC-attention ASR model.

    ``decoder``: "transformer", "mamba" or None (CTC only; then ``num_decoder_layers`` must be 0).
    ``decoding``: defaults of :meth:`transcribe` (see DECODING_DEFAULTS). ``lm``: a dict
    (see LM_DEFAULTS) adds a SpeechBrain TransformerLM for shallow fusion (its weights are
    loaded with :meth:`load_lm`; training it is not part of this toolkit).
    """

    def __init__(self, vocab_size=5000, encoder="conmamba", decoder="transformer", d_model=144, nhead=4,
                 num_encoder_layers=12, num_decoder_layers=4, d_ffn=1024, dropout=0.1, activation="gelu",
                 conformer_activation="swish", kernel_size=31, causal=False, mamba_config=None,
                 sample_rate=16000, n_fft=400, n_mels=80, win_length=25, norm_update_until_epoch=4,
                 cnn_channels=(64, 32), ctc_weight=0.3, label_smoothing=0.0, blank_index=0, pad_index=0,
                 bos_index=1, eos_index=2, decoding=None, lm=None, tokenizer=None):
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"ASRModel: encoder {encoder!r} unknown; use one of {ENCODERS}")
        if decoder not in DECODERS:
            raise ValueError(f"ASRModel: decoder {decoder!r} unknown; use one of {DECODERS}")
        if (decoder is None) != (num_decoder_layers == 0):
            raise ValueError("ASRModel: a CTC-only model has decoder: null and num_decoder_layers: 0; "
                             "an attention model needs both a decoder and num_decoder_layers > 0")
        unknown = set(decoding or {}) - set(DECODING_DEFAULTS)
        if unknown:
            raise ValueError(f"ASRModel: decoding keys {sorted(unknown)} unknown; known: {sorted(DECODING_DEFAULTS)}")
        self.vocab_size, self.sample_rate = vocab_size, sample_rate
        self.ctc_weight, self.label_smoothing = ctc_weight, label_smoothing
        self.blank_index, self.pad_index, self.bos_index, self.eos_index = blank_index, pad_index, bos_index, eos_index
        self.has_decoder = decoder is not None
        self.decoding = {**DECODING_DEFAULTS, **(decoding or {})}

        self.compute_features = Fbank(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, win_length=win_length)
        self.normalize = GlobalNormalization(n_mels, update_until_epoch=norm_update_until_epoch)
        cnn = ConvolutionFrontEnd(input_shape=(8, 10, n_mels), num_blocks=2, num_layers_per_block=1,
                                  out_channels=tuple(cnn_channels), kernel_sizes=(3, 3), strides=(2, 2),
                                  residuals=(False, False))
        with torch.no_grad():
            cnn_out = cnn(torch.zeros(1, 8, n_mels))
        input_size = cnn_out.shape[2] * cnn_out.shape[3]
        transformer = self._build_transformer(encoder, decoder, vocab_size, input_size, d_model, nhead,
                                              num_encoder_layers, num_decoder_layers, d_ffn, dropout, activation,
                                              conformer_activation, kernel_size, causal, mamba_config)
        ctc_lin = Linear(input_size=d_model, n_neurons=vocab_size)
        parts = [cnn, transformer]
        if self.has_decoder:
            parts.append(Linear(input_size=d_model, n_neurons=vocab_size))
        parts.append(ctc_lin)
        self.model = nn.ModuleList(parts)
        if lm is not None:
            self.lm = self._build_lm(vocab_size, lm)
        self._tokenizer_b64 = tokenizer
        self._processor = None
        if tokenizer is not None:
            self._check_tokenizer(tokenizer)

    @staticmethod
    def _build_transformer(encoder, decoder, vocab_size, input_size, d_model, nhead, num_encoder_layers,
                           num_decoder_layers, d_ffn, dropout, activation, conformer_activation, kernel_size,
                           causal, mamba_config):
        if encoder == "conmamba":
            from speechslytherin.models.asr.transformer_asr import ConMambaTransformerASR

            return ConMambaTransformerASR(
                tgt_vocab=vocab_size, input_size=input_size, d_model=d_model, nhead=nhead,
                num_encoder_layers=num_encoder_layers, num_decoder_layers=num_decoder_layers, d_ffn=d_ffn,
                dropout=dropout, activation=activation_class(activation), kernel_size=kernel_size,
                decoder_module=decoder or "transformer", causal=causal, mamba_config=mamba_config)
        if decoder == "mamba":
            raise ValueError("ASRModel: the Mamba decoder is paired with the ConMamba encoder only (as published)")
        if mamba_config:
            raise ValueError("ASRModel: mamba_config is for encoder: conmamba")
        from speechbrain.lobes.models.transformer.TransformerASR import TransformerASR

        return TransformerASR(
            tgt_vocab=vocab_size, input_size=input_size, d_model=d_model, nhead=nhead,
            num_encoder_layers=num_encoder_layers, num_decoder_layers=num_decoder_layers, d_ffn=d_ffn,
            dropout=dropout, activation=activation_class(activation), encoder_module="conformer",
            attention_type="RelPosMHAXL", normalize_before=True, kernel_size=kernel_size,
            conformer_activation=activation_class(conformer_activation), causal=causal)

    @staticmethod
    def _build_lm(vocab_size, lm):
        from speechbrain.lobes.models.transformer.TransformerLM import TransformerLM

        unknown = set(lm) - set(LM_DEFAULTS)
        if unknown:
            raise ValueError(f"ASRModel: lm keys {sorted(unknown)} unknown; known: {sorted(LM_DEFAULTS)}")
        spec = {**LM_DEFAULTS, **lm}
        return TransformerLM(vocab=vocab_size, d_model=spec["d_model"], nhead=spec["nhead"],
                             num_encoder_layers=spec["num_layers"], num_decoder_layers=0, d_ffn=spec["d_ffn"],
                             dropout=0.0, activation=nn.GELU, normalize_before=False)

    # -- the official parts by name --------------------------------------------------------
    @property
    def cnn(self):
        return self.model[0]

    @property
    def transformer(self):
        return self.model[1]

    @property
    def seq_lin(self):
        return self.model[2] if self.has_decoder else None

    @property
    def ctc_lin(self):
        return self.model[-1]

    # -- tokenizer ---------------------------------------------------------------------------
    def _check_tokenizer(self, source):
        processor = load_processor(read_tokenizer_bytes(source))
        check_tokenizer(processor, self.vocab_size, self.has_decoder)
        return processor

    def set_tokenizer(self, source):
        """Carry a SentencePiece model (path, bytes or base64) in this model and its model file."""
        processor = self._check_tokenizer(source)
        self._tokenizer_b64 = encode_tokenizer(source)
        self._processor = processor
        self.init_args["tokenizer"] = self._tokenizer_b64

    @property
    def tokenizer(self):
        """The SentencePieceProcessor carried by the model (TokenizerError if none)."""
        if self._processor is None:
            if self._tokenizer_b64 is None:
                raise TokenizerError("this model carries no tokenizer: models trained with bin/train carry "
                                     "theirs; otherwise call model.set_tokenizer('tokenizer.model').")
            self._processor = load_processor(read_tokenizer_bytes(self._tokenizer_b64))
        return self._processor

    def load_lm(self, path_or_state):
        """Load SpeechBrain TransformerLM weights (e.g. an ``lm.ckpt``) into ``self.lm``."""
        if not hasattr(self, "lm"):
            raise ValueError("ASRModel.load_lm: the model was built without lm: {...}")
        state = path_or_state
        if not isinstance(state, dict):
            state = torch.load(path_or_state, map_location="cpu", weights_only=True)
        self.lm.load_state_dict(state, strict=True)

    # -- training forward ------------------------------------------------------------------
    def features(self, wavs, wav_lens=None, epoch=None):
        """Normalised filterbanks [batch, frames, n_mels] (updates the global stats in training)."""
        with torch.autocast(device_type=wavs.device.type, enabled=False):
            feats = self.compute_features(wavs.float())
        return self.normalize(feats, wav_lens, epoch=epoch)

    def forward_features(self, feats, wav_lens=None, tokens_bos=None):
        """(CTC log-probs, attention log-probs or None, encoder output) from features."""
        src = self.cnn(feats)
        if self.has_decoder and tokens_bos is not None:
            enc_out, dec_out = self.transformer(src, tokens_bos, wav_lens, pad_idx=self.pad_index)
            p_seq = torch.log_softmax(self.seq_lin(dec_out), dim=-1)
        else:
            enc_out, p_seq = self.transformer.encode(src, wav_lens, pad_idx=self.pad_index), None
        p_ctc = torch.log_softmax(self.ctc_lin(enc_out), dim=-1)
        return p_ctc, p_seq, enc_out

    def forward(self, wavs, wav_lens=None, tokens_bos=None, epoch=None, feature_augment=None):
        """Training pass: ``feature_augment(feats, wav_lens) -> (feats, lens)`` (SpecAugment) runs
        between the normalisation and the CNN, inside forward so DDP sees one call."""
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0], device=wavs.device)
        feats = self.features(wavs, wav_lens, epoch)
        if feature_augment is not None:
            augmented, _ = feature_augment(feats, wav_lens)
            if augmented.shape[0] != feats.shape[0]:
                raise ValueError("feature_augment must keep the batch size (no concat_original / repeats)")
            feats = augmented
        return self.forward_features(feats, wav_lens, tokens_bos)

    def compute_loss(self, p_ctc, p_seq, wav_lens, tokens, tokens_lens, tokens_eos=None, tokens_eos_lens=None):
        """(loss, {"ctc": ..., "att": ...}): batch-mean CTC and label-smoothed KL as the official recipe."""
        from speechbrain.nnet.losses import ctc_loss, kldiv_loss

        loss_ctc = ctc_loss(p_ctc, tokens, wav_lens, tokens_lens, blank_index=self.blank_index,
                            reduction="batchmean")
        if p_seq is None:
            return loss_ctc, {"ctc": loss_ctc.detach()}
        loss_att = kldiv_loss(p_seq, tokens_eos, length=tokens_eos_lens, label_smoothing=self.label_smoothing,
                              reduction="batchmean")
        loss = self.ctc_weight * loss_ctc + (1 - self.ctc_weight) * loss_att
        return loss, {"ctc": loss_ctc.detach(), "att": loss_att.detach()}

    # -- decoding ----------------------------------------------------------------------------
    def encode(self, wavs, wav_lens=None):
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0], device=wavs.device)
        return self.transformer.encode(self.cnn(self.features(wavs, wav_lens)), wav_lens, pad_idx=self.pad_index)

    def make_searcher(self, **overrides):
        """SpeechBrain's joint CTC/attention beam searcher with the given decoding options; with the
        Mamba decoder its cached twin (one token per step through the recurrent states, same hypotheses)."""
        from speechbrain.decoders import S2STransformerBeamSearcher
        from speechbrain.decoders.scorer import CTCScorer, ScorerBuilder, TransformerLMScorer

        opts = self.decoding_options(**overrides)
        scorers, weights = [], {}
        if opts["ctc_weight"] > 0:
            scorers.append(CTCScorer(ctc_fc=self.ctc_lin, blank_index=self.blank_index, eos_index=self.eos_index))
            weights["ctc"] = opts["ctc_weight"]
        if opts["lm_weight"] > 0:
            if not hasattr(self, "lm"):
                raise ValueError("lm_weight > 0 but the model has no LM (build it with lm: {...} and load_lm)")
            scorers.append(TransformerLMScorer(language_model=self.lm, temperature=opts["lm_temperature"]))
            weights["transformerlm"] = opts["lm_weight"]
        scorer = ScorerBuilder(full_scorers=scorers, weights=weights) if scorers else None
        searcher_class = S2STransformerBeamSearcher
        if getattr(self.transformer, "decoder_module", None) == "mamba":
            from speechslytherin.models.asr.mamba_beam_search import S2SMambaBeamSearcher as searcher_class
        return searcher_class(
            modules=[self.transformer, self.seq_lin], bos_index=self.bos_index, eos_index=self.eos_index,
            min_decode_ratio=opts["min_decode_ratio"], max_decode_ratio=opts["max_decode_ratio"],
            beam_size=int(opts["beam_size"]), temperature=opts["temperature"],
            using_eos_threshold=opts["using_eos_threshold"], length_normalization=opts["length_normalization"],
            scorer=scorer)

    def decoding_options(self, **overrides):
        unknown = set(overrides) - set(DECODING_DEFAULTS)
        if unknown:
            raise ValueError(f"decoding options {sorted(unknown)} unknown; known: {sorted(DECODING_DEFAULTS)}")
        return {**self.decoding, **{k: v for k, v in overrides.items() if v is not None}}

    @torch.no_grad()
    def decode_ids(self, enc_out, wav_lens, **overrides):
        """Token-id hypotheses (lists) from encoder outputs: beam search, or CTC greedy.

        A sub-batch (e.g. the first items of a padded batch) may be shorter than its padding;
        SpeechBrain's CTC scorer needs the longest item to fill the tensor, so trim and rescale."""
        frames = torch.round(wav_lens * enc_out.shape[1]).long().clamp(min=1)
        longest = int(frames.max())
        enc_out, wav_lens = enc_out[:, :longest], frames.to(wav_lens.dtype) / longest
        if not self.has_decoder:
            return ctc_greedy(torch.log_softmax(self.ctc_lin(enc_out), -1), wav_lens, self.blank_index)
        hyps, _, _, _ = self.make_searcher(**overrides)(enc_out, wav_lens)
        return [list(map(int, h)) for h in hyps]

    @torch.no_grad()
    def transcribe(self, wavs, wav_lens=None, **decoding):
        """Texts of a batch: ``wavs`` a [time] or [batch, time] tensor (16 kHz unless the model says
        otherwise; ``wav_lens`` relative lengths) or a list of 1-D arrays/tensors of any lengths.
        Keyword options override the model's decoding defaults (beam_size, ctc_weight, ...)."""
        wavs, wav_lens = batch_waveforms(wavs, wav_lens, device=next(self.parameters()).device)
        processor = self.tokenizer
        was_training = self.training
        self.eval()
        try:
            ids = self.decode_ids(self.encode(wavs, wav_lens), wav_lens, **decoding)
        finally:
            self.train(was_training)
        return [processor.decode_ids([i for i in seq if i not in (self.bos_index, self.eos_index)]) for seq in ids]

    # -- official checkpoints ----------------------------------------------------------------
    def load_official(self, model_state, normalizer_stats=None):
        """Load an official SpeechBrain ``model.ckpt`` state dict (and ``normalizer.ckpt`` dict).
        Keys of SpeechBrain 1.0 checkpoints (``mutihead_attn``) are renamed as SpeechBrain does."""
        from speechbrain.utils.checkpoints import hook_on_loading_state_dict_checkpoint

        self.model.load_state_dict(hook_on_loading_state_dict_checkpoint(dict(model_state)), strict=True)
        if normalizer_stats is not None:
            self.normalize.load_official(normalizer_stats)


def ctc_greedy(log_probs, wav_lens, blank_index=0):
    """Best path: argmax per frame, repeats merged, blanks dropped, on each item's own frames."""
    best = log_probs.argmax(-1).cpu()
    frames = torch.round(wav_lens.cpu().float() * best.shape[1]).long().clamp(min=1)
    out = []
    for seq, n in zip(best, frames.tolist()):
        seq = torch.unique_consecutive(seq[:n]).tolist()
        out.append([t for t in seq if t != blank_index])
    return out


def batch_waveforms(wavs, wav_lens=None, device="cpu"):
    """(padded [batch, time] float tensor, relative lengths) from a tensor or a list of waveforms."""
    if isinstance(wavs, (list, tuple)):
        signals = [torch.as_tensor(w, dtype=torch.float32).reshape(-1) for w in wavs]
        if not signals or any(s.numel() == 0 for s in signals):
            raise ValueError("transcribe: empty input (no waveforms, or a waveform with no samples)")
        longest = max(s.numel() for s in signals)
        batch = torch.zeros(len(signals), longest)
        for i, s in enumerate(signals):
            batch[i, : s.numel()] = s
        lens = torch.tensor([s.numel() / longest for s in signals])
        return batch.to(device), lens.to(device)
    wavs = torch.as_tensor(wavs, dtype=torch.float32)
    if wavs.dim() == 1:
        wavs = wavs.unsqueeze(0)
    if wavs.dim() != 2 or wavs.shape[1] == 0:
        raise ValueError(f"transcribe: expected [time] or [batch, time] audio, got shape {tuple(wavs.shape)}")
    if wav_lens is None:
        wav_lens = torch.ones(wavs.shape[0])
    return wavs.to(device), torch.as_tensor(wav_lens, dtype=torch.float32).to(device)
