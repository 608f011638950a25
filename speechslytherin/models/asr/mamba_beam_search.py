"""Joint CTC/attention beam search for the Mamba decoder, with its recurrent states cached.

SpeechBrain's ``S2STransformerBeamSearcher`` re-runs the decoder over the whole prefix at every
step: for the Mamba decoder that is every layer's self Mamba over t tokens and its cross Mamba
over [memory; t tokens], i.e. the whole utterance again, per step. Both Mambas are causal, so
this searcher keeps their states instead: the first step runs each cross Mamba once over the
memory (``MambaDecoder.start``); every step then feeds only the newest token through the layers
(``MambaDecoder.step``), and when beams are pruned the states follow their hypotheses
(``permute_mem``). The search itself (scores, CTC / LM scorers, eos handling) is SpeechBrain's,
unchanged, so the hypotheses are those of the uncached searcher.
"""

import torch
from speechbrain.decoders import S2STransformerBeamSearcher

from speechslytherin.models.asr.mamba_decoder import MambaDecoder, reorder_states


class S2SMambaBeamSearcher(S2STransformerBeamSearcher):
    """Drop-in for ``S2STransformerBeamSearcher`` (same arguments) when the model's decoder is a
    :class:`MambaDecoder`. Memory between steps: (tokens fed so far, per-layer states)."""

    def __init__(self, modules, temperature=1.0, **kwargs):
        super().__init__(modules, temperature=temperature, **kwargs)
        if not isinstance(getattr(self.model, "decoder", None), MambaDecoder):
            raise ValueError("S2SMambaBeamSearcher: the model's decoder is not a MambaDecoder; "
                             "use SpeechBrain's S2STransformerBeamSearcher")
        if getattr(self.model, "attention_type", None) != "RelPosMHAXL":
            raise ValueError("S2SMambaBeamSearcher: expects the ConMamba TransformerASR layout "
                             "(sinusoidal target positions, attention_type RelPosMHAXL)")

    def reset_mem(self, batch_size, device):
        return None  # the states need the memory: made on the first step

    def permute_mem(self, memory, index):
        if memory is None:
            return None
        position, states = memory
        return position, reorder_states(states, index)

    def _start(self, enc_states):
        """Each layer's state after the memory. The searcher repeats every utterance beam_size
        times in a row (``inflate_tensor``), so read each utterance once and repeat its states."""
        k = self.beam_size
        states = self.model.decoder.start(enc_states[::k])
        return [tuple(tuple(t.repeat_interleave(k, dim=0) for t in s) for s in layer) for layer in states]

    def forward_step(self, inp_tokens, memory, enc_states, enc_lens):
        """Log-probabilities of the next token after ``inp_tokens`` (the newest token of each beam)."""
        if memory is None:
            memory = (0, self._start(enc_states))
        position, states = memory
        tgt = self.model.custom_tgt_module(inp_tokens.unsqueeze(1))
        tgt = tgt + self.model.positional_encoding_decoder.pe[:, position:position + 1].to(tgt.dtype)
        pred, states = self.model.decoder.step(tgt, states)
        prob_dist = self.softmax(self.fc(pred) / self.temperature)
        return prob_dist[:, -1, :], (position + 1, states), None
