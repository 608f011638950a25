"""Options every scoring command line takes to name its row and table in RESULTS.md
(bin/wer, bin/score_tts; see scoring/results_md.py for how RESULTS.md is regenerated)."""


def add_results_md_options(parser):
    """--exp-name, --test-set and --results-md."""
    parser.add_argument("--exp-name", default=None, help="name in RESULTS.md (default: the exp folder name)")
    parser.add_argument("--test-set", default=None, help="table name in RESULTS.md (default: the manifest's name)")
    parser.add_argument("--results-md", default=None,
                        help="RESULTS.md file (or the recipe folder holding it) to regenerate from "
                             "<its folder>/exp/*/score_*/summary.json (default: inferred from --out)")
