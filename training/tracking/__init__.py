"""Every MLflow call of the training package lives in this package: ``runs`` (the store, experiments,
a training run and what it logs) and ``registry`` (models, versions, aliases, reading runs back).
Callers use ``from training import tracking`` and ``tracking.<name>``."""

from training.tracking.registry import (
    download_predictor,
    finished_runs,
    log_predictor,
    register,
    run_metrics,
    run_params,
    run_ui_url,
    set_alias,
    tag_version,
    version_by_alias,
)
from training.tracking.runs import (
    CANDIDATE,
    CHAMPION,
    FAILURE_TAG,
    HOST_TAG,
    PID_TAG,
    ArtifactStoreError,
    configure,
    describe_run,
    ensure_experiment,
    fail_dead_runs,
    git_info,
    in_run,
    log_artifact,
    log_benchmark,
    log_dataset,
    log_dict,
    log_figure,
    log_files_to_run,
    log_metrics,
    log_params,
    log_text,
    plain_run,
    set_tags,
    store_uri,
    training_run,
    writing_artifacts,
)

__all__ = [
    "CANDIDATE", "CHAMPION", "FAILURE_TAG", "HOST_TAG", "PID_TAG", "ArtifactStoreError", "configure", "describe_run",
    "download_predictor", "ensure_experiment", "fail_dead_runs", "finished_runs", "git_info", "in_run",
    "log_artifact", "log_benchmark", "log_dataset", "log_dict", "log_figure", "log_files_to_run", "log_metrics", "log_params", "log_predictor",
    "log_text", "plain_run", "register", "run_metrics", "run_params", "run_ui_url", "set_alias", "set_tags",
    "store_uri", "tag_version", "training_run", "version_by_alias", "writing_artifacts",
]
