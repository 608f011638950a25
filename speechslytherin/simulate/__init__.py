"""Simulation of corpora the toolkit makes itself (the offline mini sets, Echo2Mix-like rooms).

KINDS maps a name to (module, make function, add_arguments function), imported only when used;
`python -m speechslytherin.bin.simulate --kind NAME --help` lists a kind's options. Each derived
mini set is written in the layout of the real corpus it stands for, so the real corpus's
`prepare` code reads it.
"""

from speechslytherin.utils.plugins import LazyRegistry

_KINDS = LazyRegistry("simulation kind", {
    "mini-enh": ("speechslytherin.simulate.mini_enh", "make_mini_enh", "add_mini_enh_arguments"),
    "mini-asr": ("speechslytherin.simulate.mini_asr", "make_mini_asr", "add_mini_asr_arguments"),
    "mini-tts": ("speechslytherin.simulate.mini_tts", "make_mini_tts", "add_mini_tts_arguments"),
    "echo2mix": ("speechslytherin.simulate.echo2mix", "make_echo2mix", "add_echo2mix_arguments"),
})
kinds = _KINDS.names  # sorted kind names
register = _KINDS.register  # register(name, module, make_fn, add_arguments_fn)
get = _KINDS.get  # (make function, add_arguments function) for a kind
