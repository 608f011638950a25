"""egs/utils: Kaldi-style option parsing and stage markers."""

import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UTILS = os.path.join(REPO, "egs", "utils")


def run_script(tmp_path, body, *args):
    script = tmp_path / "run.sh"
    script.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + body)
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, cwd=tmp_path)


PARSE = f"stage=0\nstop_stage=5\nflag=false\nname=x\n. {UTILS}/parse_options.sh\necho \"$stage $stop_stage $flag $name $*\"\n"


def test_dash_and_underscore_forms_and_equals(tmp_path):
    out = run_script(tmp_path, PARSE, "--stop-stage", "3", "--stage=2", "--flag", "true", "pos1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2 3 true x pos1"
    out = run_script(tmp_path, PARSE, "--stop_stage", "4")
    assert out.stdout.strip() == "0 4 false x"


def test_unknown_option_is_an_error(tmp_path):
    out = run_script(tmp_path, PARSE, "--stop-stag", "3")
    assert out.returncode != 0
    assert "unknown option --stop-stag" in out.stderr


def test_boolean_takes_only_true_or_false(tmp_path):
    out = run_script(tmp_path, PARSE, "--flag", "yes")
    assert out.returncode != 0 and "true or false" in out.stderr


def test_missing_value(tmp_path):
    out = run_script(tmp_path, PARSE, "--name")
    assert out.returncode != 0 and "needs a value" in out.stderr


STAGES = f"""stage=0
stop_stage=2
force=false
. {UTILS}/stage.sh "$@"
. {UTILS}/parse_options.sh
for n in 0 1 2; do
  if run_stage $n "step $n" "$PWD/marks"; then
    echo "ran $n"
    if [ -n "${{FAIL_AT:-}}" ] && [ "$FAIL_AT" = "$n" ]; then exit 3; fi
    stage_done
  fi
done
"""


def test_stage_markers_skip_done_stages_and_force_redoes(tmp_path):
    first = run_script(tmp_path, STAGES)
    assert [l for l in first.stdout.splitlines() if l.startswith("ran")] == ["ran 0", "ran 1", "ran 2"]
    again = run_script(tmp_path, STAGES)
    assert "ran" not in again.stdout and "skipped" in again.stdout
    forced = run_script(tmp_path, STAGES, "--force", "true", "--stage", "1")
    assert [l for l in forced.stdout.splitlines() if l.startswith("ran")] == ["ran 1", "ran 2"]


def test_failed_stage_writes_a_resume_line(tmp_path):
    env = dict(os.environ, FAIL_AT="1")
    script = tmp_path / "run.sh"
    script.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + STAGES)
    out = subprocess.run(["bash", str(script), "--stop-stage", "2"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode == 3
    resume = (tmp_path / "marks" / "resume.sh").read_text()
    assert "--stop-stage 2" in resume and resume.strip().endswith("--stage 1")
    assert "resume with: bash" in out.stderr
    assert not (tmp_path / "marks" / ".stage1.done").exists()


def test_stage_templates_are_read_whole_before_they_run():
    """bash reads a script as it runs it; an in-place edit (or git pull) of a template while a
    recipe runs would shift the running recipe into the middle of a line, unless its body is one
    compound command that bash parses whole first."""
    templates = os.path.join(REPO, "egs", "TEMPLATE")
    scripts = [os.path.join(templates, d, f) for d in sorted(os.listdir(templates))
               for f in os.listdir(os.path.join(templates, d)) if f.endswith(".sh")]
    assert len(scripts) >= 4
    for path in scripts:
        text = open(path, encoding="utf-8").read()
        body = text.split("set -euo pipefail\n", 1)[1]
        assert body.startswith("{"), path
        assert text.endswith("\nexit\n}\n"), path


def test_braced_script_survives_an_in_place_edit(tmp_path):
    script = tmp_path / "long.sh"
    script.write_text("#!/usr/bin/env bash\nset -euo pipefail\n{\necho one\nsleep 1\necho two\nexit\n}\n")
    proc = subprocess.Popen(["bash", str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "one"
    script.write_text(script.read_text().replace("echo one", "echo a_longer_line_that_shifts_every_offset_after_it"))
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0 and out.strip() == "two"
