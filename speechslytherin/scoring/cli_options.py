"""Options shared by scoring command lines: the row and table names in RESULTS.md (bin/wer,
bin/score_tts; see scoring/results_md.py for how RESULTS.md is regenerated) and the WER scorer of
synthesized speech (bin/score_tts, bin/tune_synthesis)."""


def add_results_md_options(parser):
    """--exp-name, --test-set and --results-md."""
    parser.add_argument("--exp-name", default=None, help="name in RESULTS.md (default: the exp folder name)")
    parser.add_argument("--test-set", default=None, help="table name in RESULTS.md (default: the manifest's name)")
    parser.add_argument("--results-md", default=None,
                        help="RESULTS.md file (or the recipe folder holding it) to regenerate from "
                             "<its folder>/exp/*/score_*/summary.json (default: inferred from --out)")


def add_tts_asr_options(parser):
    """--asr and --asr-model: the WER scorer of synthesized speech (tts.scorers.make_asr)."""
    parser.add_argument("--asr", default="auto", choices=("auto", "model", "pocketsphinx", "none"),
                        help="WER scorer (auto: --asr-model if given, else pocketsphinx if installed)")
    parser.add_argument("--asr-model", default=None, help="the toolkit's ASR model file (model.pt)")
