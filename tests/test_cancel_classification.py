"""Each scheduler's cancel answer classified as done / already gone / error, on captured outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchdeck.backends.schedulers.base import BatchSystem, CancelAnswer
from batchdeck.backends.schedulers.lsf import LsfBatchSystem
from batchdeck.backends.schedulers.pbs import PbsBatchSystem
from batchdeck.backends.schedulers.sge import SgeBatchSystem
from batchdeck.backends.schedulers.slurm import SlurmBatchSystem
from batchdeck.backends.transports.base import CommandResult

SAMPLES = Path(__file__).parent / "samples"

# (backend, sample, stream, exit status, verdict, words the message keeps)
CASES = [
    (SlurmBatchSystem, "slurm/scancel-terminating.stderr.txt", "stderr", 0, CancelAnswer.DONE, ""),
    # scancel exits 0 for an id it does not know, and says so
    (SlurmBatchSystem, "slurm/scancel-error-invalid-jobid.stderr.txt", "stderr", 0, CancelAnswer.ALREADY_GONE, ""),
    (SlurmBatchSystem, "slurm/scancel-error-permission-denied.stderr.txt", "stderr", 1, CancelAnswer.ERROR,
     "Access/permission denied"),
    (SgeBatchSystem, "sge/qdel-success.txt", "stdout", 0, CancelAnswer.DONE, ""),
    (SgeBatchSystem, "sge/qdel-error-job-does-not-exist.stderr.txt", "stderr", 1, CancelAnswer.ALREADY_GONE, ""),
    (SgeBatchSystem, "sge/qdel-error-no-privileges.stderr.txt", "stderr", 1, CancelAnswer.ERROR,
     "do not have the necessary privileges"),
    (PbsBatchSystem, "torque/qdel-error-unknown-job-id.stderr.txt", "stderr", 153, CancelAnswer.ALREADY_GONE, ""),
    (PbsBatchSystem, "torque/qdel-error-not-permitted.stderr.txt", "stderr", 159, CancelAnswer.ERROR,
     "Unauthorized Request MSG=operation not permitted 123"),
    (LsfBatchSystem, "lsf/bkill-output.txt", "stdout", 0, CancelAnswer.DONE, ""),
]


@pytest.mark.parametrize(("cls", "name", "stream", "status", "answer", "words"), CASES)
def test_cancel_answers(
    cls: type[BatchSystem], name: str, stream: str, status: int, answer: CancelAnswer, words: str
) -> None:
    text = (SAMPLES / name).read_text()
    backend = cls("c")
    argv = backend.cancel_argv("123")
    result = CommandResult(argv, status, text if stream == "stdout" else "", text if stream == "stderr" else "")
    verdict = backend.classify_cancel_output(result)
    assert verdict.answer == answer
    assert words in verdict.message
    assert "\n" not in verdict.message


def test_pbs_qdel_exit_0_is_done() -> None:
    backend = PbsBatchSystem("c", flavour="torque")
    assert backend.classify_cancel_output(CommandResult(["qdel", "1"], 0, "", "")).answer == CancelAnswer.DONE
