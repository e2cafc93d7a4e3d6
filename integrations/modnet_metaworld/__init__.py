"""Meta-World integration of modnet: MT10/MT50 as SB3 VecEnvs, and their evaluation.

Install with ``pip install "modnet[metaworld]"``. Meta-World itself is imported at
first use (building an env, an expert or the goal list), so a missing install fails
there with a message naming the extra.
"""

from .agent import MetaWorldAgent
from .callbacks import MetaWorldEvalCallback
from .envs import column_task_names, make_env
from .evaluation import PROTOCOLS, EvaluationResult, evaluate
from .experts import ScriptedExpert
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
    "BENCHMARKS",
    "GOALS_PER_TASK",
    "METAWORLD_HORIZON",
    "MODES",
    "PAPER_HORIZON",
    "PROTOCOLS",
    "EpisodeWrapper",
    "EvaluationResult",
    "GoalWrapper",
    "MetaWorldAgent",
    "MetaWorldEvalCallback",
    "ScriptedExpert",
    "TaskOneHot",
    "column_task_names",
    "evaluate",
    "make_env",
    "task_names",
]
