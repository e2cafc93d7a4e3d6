"""Meta-World integration of modnet: MT10/MT50 as SB3 VecEnvs, and their evaluation.

Install with ``pip install "modnet-rl[metaworld]"``. Meta-World itself is imported at
first use (building an env, an expert or the goal list), so a missing install fails
there with a message naming the extra.
"""

from .agent import MetaWorldAgent
from .authors import (
    AUTHORS_LONG_HORIZON_TASKS,
    AUTHORS_RANDOM_IN_FIXED,
    authors_horizons,
    authors_random_in_fixed,
)
from .callbacks import MetaWorldEvalCallback
from .envs import column_task_names, make_env
from .eval_worker import EvaluationWorker, EvaluationWorkerError, FinishedEvaluation
from .evaluation import PROTOCOLS, EvaluationResult, evaluate
from .experts import ScriptedExpert
from .protocol import describe_protocol, protocol_record
from .suites import (
    BENCHMARKS,
    GOALS_PER_TASK,
    METAWORLD_HORIZON,
    MODES,
    PAPER_HORIZON,
    task_names,
)
from .wrappers import EpisodeWrapper, GoalWrapper, TaskOneHot

__all__ = [
    "AUTHORS_LONG_HORIZON_TASKS",
    "AUTHORS_RANDOM_IN_FIXED",
    "BENCHMARKS",
    "GOALS_PER_TASK",
    "METAWORLD_HORIZON",
    "MODES",
    "PAPER_HORIZON",
    "PROTOCOLS",
    "EpisodeWrapper",
    "EvaluationResult",
    "EvaluationWorker",
    "EvaluationWorkerError",
    "FinishedEvaluation",
    "GoalWrapper",
    "MetaWorldAgent",
    "MetaWorldEvalCallback",
    "ScriptedExpert",
    "TaskOneHot",
    "authors_horizons",
    "authors_random_in_fixed",
    "column_task_names",
    "describe_protocol",
    "evaluate",
    "make_env",
    "protocol_record",
    "task_names",
]
