"""`pipeline`: what the daemon's pipeline job does, once, from the command line."""

from __future__ import annotations

import click

from .common import (
    SCORE_WEEK,
    App,
    as_of_option,
    echo_json,
    json_option,
    pass_app,
    profile_option,
    score_as_of,
    scored_subject,
)

__all__ = ["pipeline_command"]


@click.command(name="pipeline")
@click.option(
    "--subject",
    "subjects",
    metavar="CODE",
    multiple=True,
    help="A subject to run (repeatable; default: every subject with observations).",
)
@as_of_option(help=SCORE_WEEK)
@profile_option
@json_option
@pass_app
def pipeline_command(
    app: App, subjects: tuple[str, ...], as_of: str | None, profile: str | None, as_json: bool
) -> None:
    """Score, forecast and check the alert rules, recording each, then send the mail.

    The same steps, in the same order, as the daemon's pipeline job: the as-of week's
    score and every model's forecast are stored, new alerts are recorded and queued,
    and the outbox is flushed once.
    """
    from ..alerts import MailSettings, Notifier
    from ..pipeline import pipeline_scopes, run_pipeline
    from .alerts import not_mailed_line

    day = score_as_of(app, as_of)
    settings = MailSettings.from_config(app.config)
    with app.store() as store:
        if subjects:  # named: each must have data and a theatre
            chosen = [scored_subject(app, store, s) for s in subjects]
            scopes, outside = [app.scope(s, profile) for s in chosen], []
        else:
            models = app.config.models_dir
            scopes, outside = pipeline_scopes(app.catalog, models, store.subjects(), profile)
        outcome = run_pipeline(store, scopes, Notifier(store, settings), day, outside=outside)
    if as_json:
        echo_json(
            {
                "as_of": day.isoformat(),
                "subjects": [
                    {
                        "subject": s.subject,
                        "theatre": s.theatre,
                        "profile": s.scores.profile.name,
                        "score": s.scores.week(-1)["score"],
                        "band": s.scores.week(-1)["band"],
                        "forecast": s.forecast.to_dict()["horizons"],
                        "new_alerts": [a.to_dict() for a in s.check.fired],
                    }
                    for s in outcome.subjects
                ],
                "mail": outcome.mail,
                "not_scored": outcome.outside,
            }
        )
        return
    for line in outcome.summary().split("; "):
        click.echo(line)
    for alert in (a for s in outcome.subjects for a in s.check.undelivered):
        click.echo(not_mailed_line(alert), err=True)
