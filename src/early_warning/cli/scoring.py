"""Commands for the composite score: `score`, `weights ...`, `sensitivity`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import math
import sys
from typing import Any

import click
import numpy as np

from ..catalog import Catalog
from ..errors import InputError, NotFoundError, ProfileError
from ..files import parse_yaml
from ..numbers import format_number
from ..scoring import (
    CompositeIndex,
    Profile,
    ScoreResults,
    list_profiles,
    parse_profile,
)
from ..scoring.profiles import check_profile_name
from ..scoring.sensitivity import SOBOL_SAMPLES
from ..services import (
    assess_week,
    ranking_note,
    record_scores,
    record_sensitivity,
    record_warning,
    score,
    sensitivity,
)
from ..services.profiles import ProfileChange, save_audited
from .common import (
    SCORE_WEEK,
    App,
    as_of_option,
    echo_json,
    echo_table,
    json_option,
    load_named_profile,
    login,
    parse_as_of,
    pass_app,
    pit_option,
    profile_option,
    record_option,
    score_as_of,
    scored_subject,
    subject_option,
)

__all__ = ["score_command", "sensitivity_command", "weights"]


# -- score ---------------------------------------------------------------------------


@click.command(name="score")
@subject_option(default="config")
@as_of_option(help=SCORE_WEEK)
@profile_option
@pit_option
@click.option("--history", is_flag=True, help="Print the weekly series instead of one week.")
@click.option("--start", metavar="DATE", help="First week of --history (default: first data).")
@click.option("--end", metavar="DATE", help="Last week of --history (default: the as-of date).")
@record_option
@json_option
@pass_app
def score_command(
    app: App,
    subject: str | None,
    as_of: str | None,
    profile: str | None,
    point_in_time: bool,
    history: bool,
    start: str | None,
    end: str | None,
    record: bool,
    as_json: bool,
) -> None:
    """Score a subject: band, coverage, families, drivers and the change on the week before.

    With --history, every week from --start to --end (default: the as-of date). With
    --record the weeks shown are stored with the profile hash and the data vintage used;
    without it the command only reads.
    """
    if (start or end) and not history:
        raise InputError("--start and --end go with --history")
    if history and end and as_of and parse_as_of(end, "--end") != parse_as_of(as_of, "--as-of"):
        raise InputError("--history: give --end or --as-of, not both")
    day = score_as_of(
        app, end if history and end else as_of, "--end" if history and end else "--as-of"
    )
    first = parse_as_of(start, "--start")
    if first is not None and first > day:
        raise InputError(f"--start {first} is after the end of the series ({day})")
    with app.store() as store:
        subject = scored_subject(app, store, subject)
        scope = app.scope(subject, profile)
        catalog, weights = scope.catalog, scope.profile
        results = score(store, catalog, weights, subject, day, point_in_time=point_in_time)
        rows = _history_rows(results, first) if history else [results.latest_row]
        warning, note = None, None
        if not history:
            warning = assess_week(store, catalog, weights, list(scope.rules), subject, day,
                                  point_in_time=point_in_time)  # fmt: skip
            note = ranking_note(store, subject, weights)
        if record:
            record_scores(store, catalog, results, rows)
            if warning is not None:
                record_warning(store, warning, weights, subject)
    if history:
        _print_history(results, rows, as_json)
        return
    assert warning is not None
    if as_json:
        week = {**results.week(-1), "theatre": scope.theatre_id}
        echo_json({**week, "warning": warning.to_dict(), "ranking_note": note})
    else:
        click.echo(f"warning {warning.headline()}")
        for reason in warning.reasons[1:]:
            click.echo(f"  {reason}")
        click.echo(results.summary(-1))
        if note:
            click.echo(f"  {note}")
    if math.isnan(results.score[-1]):
        sys.exit(1)


def _history_rows(results: ScoreResults, start: dt.date | None) -> list[int]:
    """Rows from the first week on or after `start`."""
    if start is None:
        return list(range(results.panel.n_weeks))
    first = int(np.searchsorted(results.panel.dates, start.toordinal(), side="left"))
    return list(range(first, results.panel.n_weeks))


def _print_history(results: ScoreResults, rows: list[int], as_json: bool) -> None:
    if as_json:
        echo_json([results.week(r) for r in rows])
        return
    table = []
    for r in rows:
        value = results.score[r]
        previous = results.score[r - 1] if r > 0 else np.nan
        table.append(
            {
                "week": results.week(r)["week"],
                "date": results.panel.date(r).isoformat(),
                "score": "insufficient" if math.isnan(value) else f"{value:.1f}",
                "band": results.band(r) or "-",
                "coverage": f"{results.agg.coverage[r]:.0%}",
                "change": ""
                if math.isnan(value) or math.isnan(previous)
                else _signed(value - previous),
            }
        )
    echo_table(table, ["week", "date", "score", "band", "coverage", "change"])


# -- weights -------------------------------------------------------------------------


@click.group()
def weights() -> None:
    """Weight profiles: show, change (with an audit trail), compare and validate."""


@weights.command(name="show")
@click.argument("profile", default="default")
@json_option
@pass_app
def weights_show(app: App, profile: str, as_json: bool) -> None:
    """Show a profile's weights, each indicator's share of the total, and the reasoning."""
    catalog = app.catalog.slice_for_profile(profile)
    p = load_named_profile(app, profile, catalog)
    total_family = sum(p.family_weights.values())
    rows = []
    for fam in catalog.families.values():
        fam_share = p.family_weights[fam.id] / total_family if total_family else 0.0
        fam_total = sum(p.indicator_weights[i] for i in fam.indicators)
        for ind in fam.indicators:
            share = fam_share * p.indicator_weights[ind] / fam_total if fam_total else 0.0
            rows.append(
                {
                    "family": fam.id,
                    "family_weight": p.family_weights[fam.id],
                    "indicator": ind,
                    "weight": p.indicator_weights[ind],
                    "share": round(share, 5),
                    "default": ind in p.defaulted,
                    "reasoning": p.reasoning.get(ind, ""),
                }
            )
    if as_json:
        echo_json(
            {
                "name": p.name,
                "weights_hash": p.weights_hash,
                "aggregation": p.aggregation,
                "bands": dict(zip(("guarded", "elevated", "high", "severe"), p.bands, strict=True)),
                "min_family_coverage": p.min_family_coverage,
                "min_total_coverage": p.min_total_coverage,
                "families": {
                    f: {"weight": w, "reasoning": p.reasoning.get(f"family:{f}", "")}
                    for f, w in p.family_weights.items()
                },
                "indicators": rows,
            }
        )
        return
    click.echo(f"profile {p.name} ({p.weights_hash}), {p.aggregation} aggregation")
    click.echo(
        "bands: low < "
        + " <= ".join(
            f"{_setting(b)} {n}"
            for b, n in zip(p.bands, ("guarded", "elevated", "high", "severe"), strict=True)
        )
    )
    click.echo(
        f"minimum coverage: family {p.min_family_coverage:.0%}, total {p.min_total_coverage:.0%}"
    )
    for row in rows:
        row["share"] = f"{row['share']:.1%}"
        row["weight"] = _setting(row["weight"]) + (" (catalog)" if row["default"] else "")
    echo_table(
        rows, ["family", "family_weight", "indicator", "weight", "share", "reasoning"], width=60
    )


def _parse_assignments(
    catalog: Catalog, assignments: tuple[str, ...]
) -> tuple[dict[str, float], dict[str, float]]:
    indicators: dict[str, float] = {}
    families: dict[str, float] = {}
    for text in assignments:
        name, sep, value = text.partition("=")
        if not sep:
            raise InputError(f"{text!r}: write NAME=WEIGHT (an indicator or a family)")
        try:
            weight = float(value)
        except ValueError:
            raise InputError(f"{text!r}: {value!r} is not a number") from None
        if not math.isfinite(weight) or weight < 0:
            raise InputError(f"{text!r}: a weight must be a number >= 0")
        name = name.strip()
        if name in indicators or name in families:
            raise InputError(f"{name!r} is named twice")
        if name in catalog.indicators:
            indicators[name] = weight
        elif name in catalog.families:
            families[name] = weight
        else:
            raise NotFoundError(
                f"{name!r} is neither an indicator nor a family of the profile's catalog"
            )
    return indicators, families


@weights.command(name="set")
@click.argument("assignments", nargs=-1, required=True, metavar="NAME=WEIGHT...")
@click.option(
    "--profile",
    required=True,
    help="Profile to change (models/weights/NAME.yaml); a new one starts as a copy of "
    "`default`, which itself is read-only.",
)
@click.option("--note", required=True, help="Why the weights change (kept in the audit trail).")
@click.option("--author", help="Who changes them (default: the login name).")
@click.option("--subject", metavar="CODE", help="Subject whose score to show before and after.")
@as_of_option(help=SCORE_WEEK)
@json_option
@pass_app
def weights_set(
    app: App,
    assignments: tuple[str, ...],
    profile: str,
    note: str,
    author: str | None,
    subject: str | None,
    as_of: str | None,
    as_json: bool,
) -> None:
    """Change indicator or family weights in a profile; write the YAML and an audit row.

    Shows the score before and after for the as-of week, and what the attribution
    predicted the new score would be.
    """
    check_profile_name(profile, "--profile")
    path = app.config.models_dir / "weights" / f"{profile}.yaml"
    # A new profile starts as a copy of default, so it is read as default is.
    part = app.catalog.slice_for_profile(profile if path.is_file() else "default")
    indicators, families = _parse_assignments(part, assignments)
    author = author or login()
    try:
        before = load_named_profile(app, profile, part)
    except NotFoundError:
        before = load_named_profile(app, "default", part)
        before = dataclasses.replace(
            before,
            name=profile,
            path=path,
            extra_text={
                **before.extra_text,
                "description": f"Copy of the default profile made by {author} on "
                f"{app.today()} with `weights set`; the audit trail (`weights history "
                f"{profile}`) lists every change.",
            },
        )
    after = _with_reasons(
        before.with_weights(indicators, families), before, author, note, app.today()
    )
    day = score_as_of(app, as_of)
    with app.store() as store:
        subject = scored_subject(app, store, subject)
        old = score(store, part, before, subject, day)
        predicted, why_not = _predictions(old, indicators, families)
        text = after.to_yaml(part)
        parse_profile(parse_yaml(text, str(path), ProfileError), part, str(path))
        changes = [
            {"name": n, "before": (before.indicator_weights | before.family_weights)[n], "after": w}
            for n, w in {**indicators, **families}.items()
        ]
        summary = "; ".join(_change(c) for c in changes)
        wanted = ProfileChange(after.weights_hash, text, summary)
        save_audited(store, path, lambda _exists: wanted, author=author, note=note)
        new = CompositeIndex(part, after).fit(old.panel)
        record_scores(store, part, new, [new.latest_row])
    report = {
        "profile": after.name,
        "path": str(path),
        "weights_hash_before": before.weights_hash,
        "weights_hash": after.weights_hash,
        "changes": changes,
        "subject": subject,
        "as_of": day.isoformat(),
        "score_before": _num(old.score[-1]),
        "score_after": _num(new.score[-1]),
        "band_before": old.band(old.latest_row),
        "band_after": new.band(new.latest_row),
        "predicted_by_attribution": predicted,
        "prediction_note": why_not,
    }
    if as_json:
        echo_json(report)
        return
    for change in changes:
        click.echo(_change(change, ": "))
    click.echo(f"wrote {path} ({before.weights_hash} -> {after.weights_hash}), audit note recorded")
    if report["score_before"] is None:
        click.echo(f"{subject} has no score as of {day} (insufficient data); try --as-of")
        return
    line = f"{subject} as of {day}: score {report['score_before']:.2f} -> "
    line += f"{report['score_after']:.2f}" if report["score_after"] is not None else "insufficient"
    if report["band_before"] != report["band_after"]:
        line += f", band {report['band_before']} -> {report['band_after']}"
    click.echo(line)
    if predicted is not None:
        click.echo(f"the attribution predicted {predicted:.2f}")
    elif why_not:
        click.echo(f"no prediction from the attribution: {why_not}")


def _setting(number: float) -> str:
    """A weight, a band's bound or a setting as precise as a profile file has it."""
    return format_number(number, digits=6)


def _change(change: dict[str, Any], between: str = " ") -> str:
    """A weight changed: "ru_troops_in_belarus 1.5 -> 2"."""
    return f"{change['name']}{between}{_setting(change['before'])} -> {_setting(change['after'])}"


def _with_reasons(
    profile: Profile, before: Profile, author: str, note: str, day: dt.date
) -> Profile:
    """Record why each changed weight changed next to the weight itself."""
    reasoning = dict(profile.reasoning)
    for name, weight in {**profile.indicator_weights, **profile.family_weights}.items():
        key = name if name in profile.indicator_weights else f"family:{name}"
        old = {**before.indicator_weights, **before.family_weights}[name]
        if weight != old:
            earlier = before.reasoning.get(key, "")
            reasoning[key] = (
                f"Set to {_setting(weight)} (was {_setting(old)}) by {author} on {day}: {note}."
                + (f" Earlier reasoning: {earlier}" if earlier else "")
            )
    return dataclasses.replace(profile, reasoning=reasoning)


def _predictions(
    results: ScoreResults, indicators: dict[str, float], families: dict[str, float]
) -> tuple[float | None, str | None]:
    """The attribution's prediction for a single change, or why there is none."""
    if math.isnan(results.score[-1]):
        return None, "no score before the change"
    if len(indicators) + len(families) != 1:
        return None, "the attribution predicts one change at a time"
    if results.profile.aggregation != "arithmetic":
        return None, "the attribution predicts changes under arithmetic aggregation"
    try:
        if indicators:
            ((name, weight),) = indicators.items()
            return round(results.predict_weight_change(-1, indicator=name, weight=weight), 6), None
        ((name, weight),) = families.items()
        return round(results.predict_weight_change(-1, family=name, weight=weight), 6), None
    except ValueError as exc:
        return None, str(exc)
    except ZeroDivisionError:
        return None, "the weight was 0, so no contribution scales to the new one"


def _signed(change: float) -> str:
    """A change with its sign, never '-0.0'."""
    text = f"{change:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def _num(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)


@weights.command(name="diff")
@click.argument("first")
@click.argument("second")
@subject_option(default="config")
@as_of_option(help=SCORE_WEEK)
@pit_option
@click.option("--start", metavar="DATE", help="Compare from this week (default: first data).")
@click.option(
    "--top", type=click.IntRange(min=1), default=10, show_default=True, help="Weeks to list."
)
@json_option
@pass_app
def weights_diff(
    app: App,
    first: str,
    second: str,
    subject: str | None,
    as_of: str | None,
    point_in_time: bool,
    start: str | None,
    top: int,
    as_json: bool,
) -> None:
    """How the score history differs under two profiles: largest gaps and band changes."""
    subject = subject or app.config.default_subject
    scope = app.scope(subject, first)  # both read against the subject's slice
    a, b = scope.profile, load_named_profile(app, second, scope.catalog)
    day = score_as_of(app, as_of)
    with app.store() as store:
        ra = score(store, scope.catalog, a, subject, day, point_in_time=point_in_time)
    rb = CompositeIndex(scope.catalog, b).fit(ra.panel)
    rows = _history_rows(ra, parse_as_of(start))
    compared = []
    for r in rows:
        sa, sb = ra.score[r], rb.score[r]
        if math.isnan(sa) and math.isnan(sb):
            continue
        compared.append(
            {
                "week": ra.week(r)["week"],
                "date": ra.panel.date(r).isoformat(),
                first: _num(sa),
                second: _num(sb),
                "gap": None if math.isnan(sa) or math.isnan(sb) else round(float(sb - sa), 4),
                f"band_{first}": ra.band(r),
                f"band_{second}": rb.band(r),
            }
        )
    gaps = [c for c in compared if c["gap"] is not None]
    band_changes = [c for c in compared if c[f"band_{first}"] != c[f"band_{second}"]]
    largest = sorted(gaps, key=lambda c: -abs(c["gap"]))[:top]
    summary = {
        "subject": subject,
        "profiles": [first, second],
        "hashes": [a.weights_hash, b.weights_hash],
        "weeks_compared": len(compared),
        "mean_abs_gap": round(float(np.mean([abs(c["gap"]) for c in gaps])), 4) if gaps else None,
        "max_abs_gap": largest[0] if largest else None,
        "band_changes": len(band_changes),
        "largest_gaps": largest,
        "band_change_weeks": band_changes[:top],
        "latest": compared[-1] if compared else None,
    }
    if as_json:
        echo_json(summary)
        return
    click.echo(
        f"{subject}: {first} ({a.weights_hash}) vs {second} ({b.weights_hash}), "
        f"{len(compared)} weeks"
    )
    if not gaps:
        click.echo("no week has a score under both profiles")
        return
    click.echo(
        f"mean |gap| {summary['mean_abs_gap']:.2f} points; "
        f"weeks in another band: {len(band_changes)}"
    )
    click.echo("largest gaps:")
    echo_table(largest, ["week", first, second, "gap", f"band_{first}", f"band_{second}"])
    if band_changes:
        click.echo("weeks whose band differs:")
        echo_table(band_changes[:top], ["week", first, second, f"band_{first}", f"band_{second}"])


@weights.command(name="validate")
@click.argument("profiles", nargs=-1)
@pass_app
def weights_validate(app: App, profiles: tuple[str, ...]) -> None:
    """Check profiles against the catalog (all in models/weights/ by default)."""
    names = list(profiles) or [p.stem for p in list_profiles(app.config.models_dir)]
    if not names:
        raise NotFoundError(f"{app.config.models_dir / 'weights'}: no profiles")
    failed = 0
    for name in names:
        try:
            p = load_named_profile(app, name)
        except (ProfileError, NotFoundError) as exc:
            failed += 1
            click.echo(f"early-warning: error: {exc}", err=True)
            continue
        defaulted = f", {len(p.defaulted)} indicators at catalog weight" if p.defaulted else ""
        click.echo(f"ok  {p.name} ({p.weights_hash}){defaulted}")
    if failed:
        sys.exit(2)


@weights.command(name="history")
@click.argument("profile", required=False)
@json_option
@pass_app
def weights_history(app: App, profile: str | None, as_json: bool) -> None:
    """The audit trail: every change to a profile and the first use of each version."""
    with app.store() as store:
        rows = store.profile_history(profile)
    if as_json:
        echo_json(rows)
        return
    columns = ["id", "name", "weights_hash", "action", "changes", "author", "note", "recorded_at"]
    echo_table(rows, columns, width=50)


# -- sensitivity ---------------------------------------------------------------------


def _power_of_two(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None and value & (value - 1):
        raise click.BadParameter(
            f"{value} is not a power of two (Sobol sequences need one: 512, 1024, 2048, ...)"
        )
    return value


@click.command(name="sensitivity")
@subject_option(default="config")
@as_of_option(help=SCORE_WEEK)
@profile_option
@pit_option
@click.option(
    "--draws",
    type=click.IntRange(min=10, max=1_000_000),
    help="Monte Carlo draws, 10 to 1,000,000 (default from the profile).",
)
@click.option(
    "--concentration",
    type=click.FloatRange(min=0.1),
    help="Dirichlet concentration (default from the profile).",
)
@click.option("--seed", type=click.IntRange(min=0), help="Random seed (default from the profile).")
@click.option(
    "--samples",
    type=click.IntRange(min=8, max=65536),  # 65,536 x (weights + 2) scores: minutes, not GiB
    callback=_power_of_two,
    help=f"Sobol base sample, a power of two (default {SOBOL_SAMPLES}); the score is "
    "computed samples x (weights + 2) times.",
)
@record_option
@json_option
@pass_app
def sensitivity_command(
    app: App,
    subject: str | None,
    as_of: str | None,
    profile: str | None,
    point_in_time: bool,
    draws: int | None,
    concentration: float | None,
    seed: int | None,
    samples: int | None,
    record: bool,
    as_json: bool,
) -> None:
    """Uncertainty band, chance of `high` or worse, family rank stability and Sobol indices.

    The band is the 5-95% range of the score when the weights are redrawn, under the
    profile's own aggregation and normalisation; the score under the other methods is
    shown beside it, not pooled into it. With --record the analysis is kept in
    `sensitivity_runs`; without it, it only reads.
    """
    day = score_as_of(app, as_of)
    with app.store() as store:
        subject = scored_subject(app, store, subject)
        scope = app.scope(subject, profile)
        p = scope.profile
        results = score(store, scope.catalog, p, subject, day, point_in_time=point_in_time)
        patterns = len(np.unique(~np.isnan(results.risk), axis=0))
        show = sys.stderr.isatty()  # a progress bar only where someone watches it
        with click.progressbar(
            length=patterns, label="Monte Carlo", file=sys.stderr if show else io.StringIO()
        ) as bar:
            outcome = sensitivity(
                store, scope.catalog, p, subject, day, point_in_time=point_in_time, draws=draws,
                concentration=concentration, seed=seed, progress=bar.update, results=results,
                sobol_samples=samples or SOBOL_SAMPLES,
            )  # fmt: skip
        if record:
            record_sensitivity(store, outcome, point_in_time=point_in_time)
    if as_json:
        data = outcome.to_dict()
        data.pop("history")
        echo_json(data)
        return
    band = outcome.band
    if band["score"] is None:
        click.echo(f"{subject} as of {day}: no score (insufficient data), nothing to analyse")
        sys.exit(1)
    click.echo(
        f"{subject} as of {day}, profile {p.name} ({p.weights_hash}), "
        f"{band['valid_draws']} of {outcome.draws} draws give a score, "
        f"concentration {_setting(outcome.concentration)}"
    )
    click.echo(
        f"score {band['score']:.1f}; 5-95% band {band['low']:.1f} .. {band['high']:.1f} "
        f"(median {band['median']:.1f}) when the weights are redrawn, under the profile's "
        f"{band['method']} aggregation; P(high or worse) = {outcome.p_high_or_worse:.1%}"
    )
    for line in outcome.method_lines():
        click.echo(f"  {line}")
    if outcome.rank_stability:
        click.echo("family ranks (share of draws keeping the rank; modal rank):")
        ranked = sorted(outcome.rank_stability.items(), key=lambda item: item[1]["rank"])
        for fam, info in ranked:
            click.echo(
                f"  {info['rank']}. {fam:<24} {info['share_at_rank']:.0%}, "
                f"modal {info['modal_rank']}, 90% range {info['rank_range_90']}"
            )
    sobol = outcome.sobol
    if sobol.get("computed"):
        click.echo(
            f"Sobol indices of the weights (+-{sobol['range']:.0%}; base sample "
            f"{sobol['base_samples']}, {sobol['samples']:,} runs; 95% intervals), "
            "largest total first:"
        )
        for item in sobol["indices"][:8]:
            click.echo(
                f"  {item['weight']:<36} first {item['first_order']:.3f} "
                f"\u00b1{item['first_order_conf']:.3f}  "
                f"total {item['total']:.3f} \u00b1{item['total_conf']:.3f}"
            )
        if sobol["note"]:
            click.echo(f"  note: {sobol['note']}; raise --samples")
    else:
        click.echo(f"Sobol indices: not computed ({sobol.get('reason')})")
