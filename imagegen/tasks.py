"""django-q2 entry points. Thin on purpose: the work lives in `imagegen.services`."""

from django_q.exceptions import TimeoutException

from . import services


def run_generation(generation_id):
    """Run one queued generation (queued by services.enqueue_generation)."""
    try:
        services.run_generation(generation_id)
    except TimeoutException:
        # django-q2 stops a task at IMAGEGEN_TASK_TIMEOUT; record it instead of leaving it running.
        services.fail_generation(
            generation_id,
            user_message="The image took too long to make. Please try again.",
            detail="Stopped by the task queue's time limit (IMAGEGEN_TASK_TIMEOUT).",
            failure_class="unavailable",
        )
        raise


def recover_stuck():
    """The scheduled sweep (every 5 minutes, see migration 0006) for stuck generations."""
    services.recover_stuck()
