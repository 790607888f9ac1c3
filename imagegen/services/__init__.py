"""TravelFit's workflows, one module per concern; each is the one place its writes happen.

- `quota`: reserving units (`reserve_quota`, the only place), refunds, bonus credits.
- `generations`: submit (`submit_generation(s)`), dispatch waiting ones, retry, cancel, fail,
  delete, favourite.
- `worker`: `run_generation`, the background task's body: providers, retries, storing.
- `policy`, `budget`: why a submission may be refused (with `errors.SubmissionRefused`).
- `cooldowns`, `sharing`, `api_keys`, `maintenance` (recovery sweep, cleanup, deletions).
- `chains`: edit again: where a new version of a result starts, and a deleted one's children.
- `uploads`: photos for edit and try-on: storing the clean copy, the daily limit, retention.
- `review`: held images and reported shares: a person's approve or reject, viewers' reports.

Everything public is re-exported here: callers write `services.submit_generation(...)`.
"""

from ..periods import Periods  # noqa: F401,E402
from .api_keys import (  # noqa: F401
    create_api_token,
    hash_api_key,
    revoke_api_token,
    token_for_api_key,
    user_for_api_key,
)
from .availability import check_tier_can_serve, paused_until  # noqa: F401
from .budget import (  # noqa: F401
    BudgetState,
    budget_state,
    check_budget_allows_new_generations,
    over_budget,
    record_spending,
    spent_this_month,
)
from .chains import ChainStart, keep_children, start_from  # noqa: F401
from .cooldowns import (  # noqa: F401
    active_cooldown,
    clear_cooldowns,
    start_cooldown,
)
from .errors import (  # noqa: F401
    BudgetExhausted,
    InvalidRequest,
    ParentRefused,
    PromptBlocked,
    QuotaExceeded,
    SubmissionRefused,
    TierUnavailable,
)
from .generations import (  # noqa: F401
    RUN_GENERATION,
    GenerationBusy,
    cancel_generation,
    delete_generation,
    delete_generation_with_files,
    delete_users_with_files,
    dispatch_waiting,
    enqueue_generation,
    fail_generation,
    retry_generation,
    set_favourite,
    submit_generation,
    submit_generations,
)
from .maintenance import (  # noqa: F401
    MAX_RECOVERIES,
    MISSED_HEARTBEATS,
    QUEUED_GRACE_SECONDS,
    Cleanup,
    Recovery,
    cleanup_generations,
    generations_waiting_in_broker,
    recover_stuck,
)
from .policy import (  # noqa: F401
    blocking_pattern,
    check_prompt,
)
from .quota import (  # noqa: F401
    grant_credits,
    quota_for,
    refund,
)
from .review import (  # noqa: F401
    ReportOutcome,
    approve,
    count_waiting,
    reject,
    report_share,
    waiting_for_review,
)
from .sharing import (  # noqa: F401
    revoke_share,
    share_generation,
)
from .uploads import (  # noqa: F401
    UploadInUse,
    UploadsExhausted,
    delete_expired_uploads,
    delete_upload,
    store_upload,
    upload_of,
    use_uploads,
)
from .worker import (  # noqa: F401
    parameters_text,
    run_generation,
)
