import datetime as dt
from pathlib import Path

import pytest
import yaml

from early_warning import bundled_path
from early_warning.alerts import RuleError, load_rules
from early_warning.catalog import Catalog

RED_LINES = {
    "red_line_permanent_base",
    "red_line_forces_move_in",
    "red_line_forces_stay",
    "red_line_exercise_without_observers",
    "red_line_integration_ultimatum",
}


def test_shipped_rules_load_with_the_reports_red_lines(real_catalog: Catalog) -> None:
    rules = {r.id: r for r in load_rules(bundled_path("models") / "alerts.yaml", real_catalog)}
    assert set(rules) >= RED_LINES
    for rule_id in RED_LINES:
        rule = rules[rule_id]
        assert rule.severity == "red" and rule.citation["source"] in real_catalog.sources
    base = rules["red_line_permanent_base"].conditions[0]
    assert (base.indicator, base.op, base.value) == ("ru_base_status", ">=", 3.0)
    stay = rules["red_line_forces_stay"].conditions[0]
    assert stay.holds(0.0) and not stay.holds(1.0)  # false = forces stayed
    observers = rules["red_line_exercise_without_observers"].conditions
    assert [c.indicator for c in observers] == ["joint_exercise_scale", "exercise_transparency"]
    assert rules["red_line_integration_ultimatum"].conditions[0].value == 2.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "sometimes"}, "field 'kind'"),
        ({"severity": "purple"}, "field 'severity'"),
        ({"all": [{"indicator": "nope", "op": ">", "value": 1}]}, "unknown indicator 'nope'"),
        ({"all": [{"indicator": "ru_base_status", "op": "~", "value": 1}]}, "operator '~'"),
        ({"all": [{"indicator": "ru_base_status", "op": ">", "value": 9}]}, "not a level"),
        ({"citation": None}, "carries its citation"),
        ({"colour": "red"}, "field 'colour': not a field of a red_line rule"),
    ],
)
def test_rule_mistakes_name_file_rule_and_field(
    real_catalog: Catalog, tmp_path: Path, change: dict, message: str
) -> None:
    rule = {
        "id": "base", "kind": "red_line", "severity": "red",
        "all": [{"indicator": "ru_base_status", "op": ">=", "value": 3}],
        "citation": {"source": "sivitsky2019", "section": "s"},
    }  # fmt: skip
    rule.update(change)
    path = tmp_path / "alerts.yaml"
    path.write_text(yaml.safe_dump({"rules": [rule]}))
    with pytest.raises(RuleError) as info:
        load_rules(path, real_catalog)
    assert message in str(info.value) and "alerts.yaml: rule 'base'" in str(info.value)


def test_threshold_targets_are_checked(real_catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    rule = {"id": "tt", "kind": "threshold", "severity": "amber", "target": "family:nope"}
    path.write_text(yaml.safe_dump({"rules": [{**rule, "level": 50}]}))
    with pytest.raises(RuleError, match="unknown family 'nope'"):
        load_rules(path, real_catalog)


def test_the_rule_example_in_models_readme_loads(real_catalog: Catalog, tmp_path: Path) -> None:
    text = (bundled_path("models") / "README.md").read_text()
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "alerts.yaml").write_text(example)
    rules = {r.id: r for r in load_rules(tmp_path / "alerts.yaml", real_catalog)}
    assert rules["score_high"].robust == 0.8 and rules["score_high"].hysteresis == 5
    assert rules["red_line_forces_stay"].conditions[0].value == 0.0


def test_robust_only_on_the_score_going_up(real_catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(
        "rules:\n  - {id: r1, kind: threshold, severity: red, target: 'family:military_posture',"
        " level: 50, robust: 0.9}\n"
    )
    with pytest.raises(RuleError, match="field 'robust': applies to a rule on the score"):
        load_rules(path, real_catalog)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            "{id: r1, kind: threshold, severity: red, target: score, level: 600}",
            "field 'level': must be between 0 and 100",
        ),
        (
            "{id: r1, kind: threshold, severity: red, target: 'forecast:4', level: 60}",
            "field 'level': must be between 0 and 1",
        ),
        (
            "{id: r1, kind: threshold, severity: red, target: 'forecast:0', level: 0.5}",
            "field 'target'",
        ),
        (
            "{id: r1, kind: change, severity: red, jump: 5, level: 3}",
            "field 'level': not a field of a change rule",
        ),
        (
            "{id: r1, kind: red_line, severity: red, citation: {source: baggiani2017, section: x},"
            " all: [{indicator: post_exercise_withdrawal, op: '>=', value: true}]}",
            "compare it with == or !=",
        ),
    ],
)
def test_rules_that_could_never_fire_are_refused(
    real_catalog: Catalog, tmp_path: Path, rule: str, message: str
) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(f"rules:\n  - {rule}\n")
    with pytest.raises(RuleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_rules(path, real_catalog)


def test_unreadable_rule_files_are_one_line_errors(real_catalog: Catalog, tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="is a folder"):
        load_rules(tmp_path, real_catalog)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("rules: [] # caf\xe9".encode("latin-1"))
    with pytest.raises(RuleError, match="not UTF-8"):
        load_rules(latin, real_catalog)
    one = tmp_path / "one.yaml"
    one.write_text("rules:\n  - {id: f, kind: change, severity: watch, jump: 5}\n")
    assert load_rules(one, real_catalog)[0].description == "F."


def test_a_rule_for_belarus_does_not_judge_the_neighbours(
    tmp_path: Path, real_catalog: Catalog
) -> None:
    """The shipped staleness rule counts never-observed troop figures for Belarus only:
    Poland's GDP, ingested from the World Bank, must not raise it for Poland."""
    from early_warning import FixedClock, Store, ingest
    from early_warning.alerts.engine import AlertEngine
    from early_warning.alerts.rules import load_rules
    from early_warning.scoring import load_profile

    rules = load_rules(bundled_path("models") / "alerts.yaml", real_catalog)
    stale = next(r for r in rules if r.id == "key_indicators_stale")
    assert stale.applies_to("BLR") and not stale.applies_to("POL")
    data = tmp_path / "gdp.csv"
    data.write_text(
        "Country Name,Country Code,Year,Value\nPoland,POL,2022,688000000000\n"
        "Belarus,BLR,2022,72800000000\n",
        encoding="utf-8",
    )
    with Store(tmp_path / "r.db", clock=FixedClock("2024-06-01T12:00:00")) as store:
        store.sync_catalog(real_catalog)
        ingest(store, real_catalog, data)
        profile = load_profile(bundled_path("models"), "default", real_catalog)
        engine = AlertEngine(store, real_catalog, profile, rules)
        assert [a.rule for a in engine.check("BLR", dt.date(2024, 6, 1)).fired] == [
            "key_indicators_stale"
        ]
        assert engine.check("POL", dt.date(2024, 6, 1)).fired == []
