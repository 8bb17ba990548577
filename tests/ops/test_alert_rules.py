"""The shipped alert rules: promtool accepts them, and every alert has a unit test that passes."""

from __future__ import annotations

import re
import subprocess

from gridlink.settings import PROJECT_ROOT
from tests.ops.promtool import binary

RULES = PROJECT_ROOT / "deploy" / "prometheus" / "gridlink-rules.yml"
TESTS = PROJECT_ROOT / "deploy" / "prometheus" / "gridlink-rules.test.yml"
REQUIRED = {"GridlinkWebDown", "GridlinkWorkerDown", "GridlinkOutboxNotDraining",
            "GridlinkDeadLettersRising", "GridlinkBotApiErrors", "GridlinkWebhookRefusals",
            "GridlinkStatsFolderStalled", "GridlinkRedCasesRisingFasterThanUsual"}


def test_promtool_checks_and_tests_the_rules() -> None:
    promtool = binary("promtool")
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([promtool, "test", "rules", str(TESTS)], capture_output=True, text=True,
                            cwd=TESTS.parent)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    alerts = set(re.findall(r"^\s+- alert: (\w+)", RULES.read_text(), re.M))
    assert alerts >= REQUIRED
    text = TESTS.read_text()
    for alert in alerts:
        cases = re.findall(rf"alertname: {alert}\n\s+exp_alerts:(.*)", text)
        assert any(c.strip() == "[]" for c in cases), f"{alert}: no case where it stays quiet"
        assert any(c.strip() == "" for c in cases), f"{alert}: no case where it fires"
