"""Corpus preparation: verify a corpus on disk and write its manifests (never writing into it).

CORPORA maps a corpus name to (prepare function, add_arguments function). A new corpus plugs in
by adding a module with both and one line here; `python -m speechslytherin.bin.prepare --corpus
<name>` then offers its options.
"""

from speechslytherin.utils.plugins import LazyRegistry

# name -> (module, prepare function, argument function)
_REGISTRY = LazyRegistry("corpus", {
    "wsj0-2mix": ("speechslytherin.prepare.wsj0_2mix", "prepare_wsj0_2mix", "add_wsj0_2mix_arguments"),
    "mini": ("speechslytherin.prepare.wsj0_2mix", "prepare_mini", "add_wsj0_2mix_arguments"),
    "libri2mix": ("speechslytherin.prepare.libri2mix", "prepare_libri2mix", "add_libri2mix_arguments"),
    "wham": ("speechslytherin.prepare.wham", "prepare_wham", "add_wham_arguments"),
    "echo2mix": ("speechslytherin.prepare.echo2mix", "prepare_echo2mix", "add_echo2mix_arguments"),
    "voicebank": ("speechslytherin.prepare.voicebank", "prepare_voicebank", "add_voicebank_arguments"),
    "librispeech": ("speechslytherin.prepare.librispeech", "prepare_librispeech", "add_librispeech_arguments"),
    "libritts": ("speechslytherin.prepare.libritts", "prepare_libritts", "add_libritts_arguments"),
})
corpora = _REGISTRY.names  # sorted corpus names
register = _REGISTRY.register  # register(name, module, prepare_fn, add_arguments_fn)
get = _REGISTRY.get  # (prepare function, add_arguments function) for a corpus name
