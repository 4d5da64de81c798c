"""The storage contract of SAFE EventStore, as pytest tests any backend can run.

Every backend must show the same properties (docs: "Properties every backend must show"):
atomic batches, an expected-version check that is atomic with the write, strictly increasing
positions with no late arrivals, acknowledged appends that survive a crash, deduplicated
content-addressed payloads, subscriptions that are woken by the backend and resume from
checkpoints, typed errors raised before anything is written, and dynamic consistency
boundaries (events selected by type and tag, appends whose condition is checked atomically
with the write, against every client's events). This module states them once, through the
public store API, so that every backend is held to the same tests.

Reuse it by importing it into a test module and naming a store::

    # tests/test_my_backend.py
    import pytest
    from safe_eventstore.testing.contract import *  # noqa: F403

    @pytest.fixture
    def store_url(tmp_path):
        return f"sqlite://{tmp_path / 'store'}"

``store_url`` must name a fresh, empty store for every test, in a form that
:func:`safe_eventstore.open` understands, in this process and in the child processes some
tests start. From it the suite builds two fixtures:

``store``
    the store opened once from ``store_url``, closed after the test. Override it when your
    store must be opened some other way (it must still be fresh and empty).
``db``
    the database ``"contract"`` created in ``store``.

Tests that start other processes (racing writers, a writer killed with SIGKILL, a
subscriber process that restarts) skip when ``store.storage.shared_across_processes`` is
false, saying that the backend is confined to one process; tests that need other clients
(a second handle, racing threads on handles of their own) open ``store_url`` again when it is
shared, and use ``store`` for every client when it is not. No test skips for any other
reason. The suite needs ``pytest`` and ``hypothesis``; it closes every store and
subscription it opens, so it runs cleanly under ``filterwarnings = error``.

The tests live in modules by topic (appends, reads, backwards reads, checkpoints, payloads,
restructures, verification, subscriptions, bad input, errors, concurrency and crashes, dynamic
consistency boundaries, leases, the asyncio API, the store against a model, encrypted databases: a
backend without key storage must refuse those with ``NotSupported``); the fixtures and the
helpers the topics share are in ``_fixtures``. This package re-exports every test and both
fixtures, which is what the star import above takes. Importing it registers those modules for
pytest's assertion rewriting, so a failing contract test shows the values it compared, as a
test of your own would.
"""

from __future__ import annotations

from . import _rewrite  # noqa: F401  (first: before the modules it registers)
from ._appends import (
    test_a_bad_event_fails_the_whole_batch,
    test_a_partial_overlap_by_position_is_an_idempotency_conflict,
    test_a_retry_with_a_concrete_expected_version_is_found_where_it_was_stored,
    test_a_retry_with_the_same_event_objects_stores_them_once,
    test_a_retry_without_a_concrete_expected_version_is_found_by_id,
    test_an_empty_batch_is_refused,
    test_an_id_the_store_generated_is_not_a_retry_key,
    test_checkpoint_stored_with_a_batch_only_moves_forward,
    test_expected_version_any,
    test_expected_version_exact,
    test_expected_version_no_stream,
    test_expected_version_stream_exists,
    test_invalid_expected_version_is_refused,
    test_multi_stream_batch_is_atomic,
    test_partial_retry_is_an_idempotency_conflict,
    test_readers_never_see_part_of_a_batch,
    test_retry_returns_the_original_result_and_writes_nothing,
    test_wrong_expected_version_writes_nothing,
)
from ._async import (
    test_async_api,
    test_async_subscription,
    test_the_async_api_reads_and_appends_events,
)
from ._backwards import (
    test_backwards_from_position_means_at_or_below,
    test_backwards_reads_apply_restructures,
    test_backwards_through_the_async_api,
    test_read_all_backwards_from_a_position,
    test_read_all_backwards_gives_payloads_and_restructures,
    test_read_all_backwards_is_read_all_reversed,
    test_read_all_backwards_keeps_the_filters,
    test_read_all_backwards_over_many_pages,
    test_read_category_backwards_with_a_type_filter,
)
from ._checkpoints import (
    test_a_deleted_checkpoint_starts_afresh,
    test_checkpoint_listing_needs_the_database,
    test_checkpoints_are_listed_and_reset,
    test_checkpoints_through_the_async_api,
    test_list_and_delete_checkpoints,
)
from ._concurrency import (
    test_acknowledged_appends_survive_a_killed_writer,
    test_racing_processes_keep_versions_contiguous,
    test_racing_threads_keep_versions_contiguous,
)
from ._dcb import (
    test_a_checkpoint_moves_forward_alone,
    test_a_condition_is_checked_against_events_of_other_clients,
    test_a_condition_sees_stream_events,
    test_a_conditional_append_never_passes_an_event_committed_beside_it,
    test_a_matching_event_after_the_position_fails_the_append,
    test_bad_queries_and_conditions_are_rejected,
    test_conditional_append_retries_are_idempotent,
    test_events_at_or_before_the_position_do_not_fail_it,
    test_events_without_a_stream_are_chained_and_verified,
    test_queries_select_by_type_and_tag,
    test_racing_appends_with_one_condition_store_one,
    test_reads_by_tag_page_through_many_events,
    test_reads_take_after_and_limit,
    test_restructures_apply_to_queries,
    test_small_limits_read_small_pages,
    test_tags_are_stored_and_read_back,
    test_the_appended_events_may_match_their_own_condition,
    test_the_reserved_stream_can_be_read_not_written,
)
from ._errors import (
    test_a_closed_store_refuses_work,
    test_closing_the_store_stops_a_blocked_subscriber,
    test_database_exists_and_database_not_found,
    test_invalid_database_names_are_refused,
    test_invalid_stream_names_are_refused,
    test_racing_creators_make_one_database,
    test_valid_database_names,
    test_valid_stream_names,
)
from ._fixtures import _python as _python  # for backend tests that start child processes
from ._fixtures import db, store
from ._inputs import (
    test_a_checkpoint_beyond_the_last_position_is_refused,
    test_a_given_timestamp_is_kept_to_the_microsecond,
    test_a_hiding_restructure_takes_the_id_and_time_it_is_given,
    test_a_replacement_carries_its_own_id_and_time,
    test_a_subscription_cannot_save_a_checkpoint_beyond_the_end,
    test_a_timestamp_must_be_a_timezone_aware_datetime,
    test_dollar_inside_metadata_values_and_nested_keys_is_data,
    test_list_streams_refuses_an_after_that_is_not_a_name,
    test_metadata_keys_starting_with_dollar_are_reserved,
    test_numbers_beyond_64_bits_are_refused_before_the_storage,
    test_one_string_as_a_type_filter_is_refused,
    test_one_string_as_tags_is_refused_by_append,
    test_tags_given_as_a_list_are_still_taken,
    test_the_largest_numbers_read_as_nothing,
)
from ._keys import (
    test_a_backend_keeps_settings_and_wrapped_keys,
    test_an_encrypted_database_round_trip,
)
from ._leases import (
    test_a_lease_is_taken_renewed_and_released,
    test_another_owner_is_refused_until_the_lease_expires,
    test_bad_lease_input_is_refused_and_changes_nothing,
    test_lease_info_names_and_listing,
    test_leases_need_the_database,
    test_leases_through_the_async_api,
    test_racing_processes_take_a_free_lease_once,
    test_racing_threads_take_a_free_lease_once,
)
from ._model import test_store_matches_model
from ._payloads import (
    test_a_16_mib_event_is_stored_and_read_back,
    test_an_event_over_the_limit_is_refused,
    test_bytes_pass_through,
    test_identical_payloads_are_stored_once,
    test_registered_dataclass_round_trips_as_an_instance,
    test_the_default_limit_is_64_mib,
    test_unregistered_type_reads_as_plain_data,
    test_unserialisable_data_is_refused_before_writing,
)
from ._reads import (
    test_an_empty_page_still_says_whether_more_follow,
    test_databases_are_isolated,
    test_event_fields_round_trip,
    test_from_position_is_inclusive,
    test_list_streams_pages_in_sorted_order,
    test_list_streams_says_whether_more_streams_follow,
    test_list_streams_through_the_async_api,
    test_positions_strictly_increase_across_streams,
    test_read_all_filters_by_type,
    test_read_stream_window,
    test_the_category_is_the_part_before_the_first_dash,
    test_versions_start_at_zero_and_positions_at_one,
)
from ._restructures import (
    test_a_subscription_may_deliver_restructure_entries,
    test_raw_read_keeps_originals_and_shows_restructures,
    test_reads_from_any_version_with_restructures_interleaved,
    test_restructure_hides_an_event_in_every_read,
    test_restructure_replaces_an_event_in_every_read,
    test_restructures_leave_the_stream_version_alone,
    test_restructuring_what_does_not_exist_is_refused,
    test_the_latest_restructure_of_a_version_wins,
)
from ._subscriptions import (
    test_a_checkpoint_takes_precedence_over_from_position,
    test_a_live_event_arrives_before_the_idle_timeout,
    test_a_restarted_subscriber_process_resumes_after_its_checkpoint,
    test_an_append_in_another_process_wakes_a_subscriber,
    test_an_idle_subscriber_does_not_spin,
    test_category_subscription_keeps_to_its_category,
    test_checkpoint_resume_after_reopening_the_store,
    test_closing_a_subscription_ends_a_blocked_iteration,
    test_subscription_catches_up_then_goes_live,
    test_the_backend_wakes_a_waiting_reader,
    test_the_idle_timeout_ends_iteration,
)
from ._verify import (
    test_stats_count_what_is_stored,
    test_verify_passes_on_an_empty_database,
    test_verify_passes_on_healthy_data,
)

__all__ = [
    "db",
    "store",
    "test_a_16_mib_event_is_stored_and_read_back",
    "test_a_backend_keeps_settings_and_wrapped_keys",
    "test_a_bad_event_fails_the_whole_batch",
    "test_a_checkpoint_beyond_the_last_position_is_refused",
    "test_a_checkpoint_moves_forward_alone",
    "test_a_checkpoint_takes_precedence_over_from_position",
    "test_a_closed_store_refuses_work",
    "test_a_condition_is_checked_against_events_of_other_clients",
    "test_a_condition_sees_stream_events",
    "test_a_conditional_append_never_passes_an_event_committed_beside_it",
    "test_a_deleted_checkpoint_starts_afresh",
    "test_a_given_timestamp_is_kept_to_the_microsecond",
    "test_a_hiding_restructure_takes_the_id_and_time_it_is_given",
    "test_a_lease_is_taken_renewed_and_released",
    "test_a_live_event_arrives_before_the_idle_timeout",
    "test_a_matching_event_after_the_position_fails_the_append",
    "test_a_partial_overlap_by_position_is_an_idempotency_conflict",
    "test_a_replacement_carries_its_own_id_and_time",
    "test_a_restarted_subscriber_process_resumes_after_its_checkpoint",
    "test_a_retry_with_a_concrete_expected_version_is_found_where_it_was_stored",
    "test_a_retry_with_the_same_event_objects_stores_them_once",
    "test_a_retry_without_a_concrete_expected_version_is_found_by_id",
    "test_a_subscription_cannot_save_a_checkpoint_beyond_the_end",
    "test_a_subscription_may_deliver_restructure_entries",
    "test_a_timestamp_must_be_a_timezone_aware_datetime",
    "test_acknowledged_appends_survive_a_killed_writer",
    "test_an_append_in_another_process_wakes_a_subscriber",
    "test_an_empty_batch_is_refused",
    "test_an_empty_page_still_says_whether_more_follow",
    "test_an_encrypted_database_round_trip",
    "test_an_event_over_the_limit_is_refused",
    "test_an_id_the_store_generated_is_not_a_retry_key",
    "test_an_idle_subscriber_does_not_spin",
    "test_another_owner_is_refused_until_the_lease_expires",
    "test_async_api",
    "test_async_subscription",
    "test_backwards_from_position_means_at_or_below",
    "test_backwards_reads_apply_restructures",
    "test_backwards_through_the_async_api",
    "test_bad_lease_input_is_refused_and_changes_nothing",
    "test_bad_queries_and_conditions_are_rejected",
    "test_bytes_pass_through",
    "test_category_subscription_keeps_to_its_category",
    "test_checkpoint_listing_needs_the_database",
    "test_checkpoint_resume_after_reopening_the_store",
    "test_checkpoint_stored_with_a_batch_only_moves_forward",
    "test_checkpoints_are_listed_and_reset",
    "test_checkpoints_through_the_async_api",
    "test_closing_a_subscription_ends_a_blocked_iteration",
    "test_closing_the_store_stops_a_blocked_subscriber",
    "test_conditional_append_retries_are_idempotent",
    "test_database_exists_and_database_not_found",
    "test_databases_are_isolated",
    "test_dollar_inside_metadata_values_and_nested_keys_is_data",
    "test_event_fields_round_trip",
    "test_events_at_or_before_the_position_do_not_fail_it",
    "test_events_without_a_stream_are_chained_and_verified",
    "test_expected_version_any",
    "test_expected_version_exact",
    "test_expected_version_no_stream",
    "test_expected_version_stream_exists",
    "test_from_position_is_inclusive",
    "test_identical_payloads_are_stored_once",
    "test_invalid_database_names_are_refused",
    "test_invalid_expected_version_is_refused",
    "test_invalid_stream_names_are_refused",
    "test_lease_info_names_and_listing",
    "test_leases_need_the_database",
    "test_leases_through_the_async_api",
    "test_list_and_delete_checkpoints",
    "test_list_streams_pages_in_sorted_order",
    "test_list_streams_refuses_an_after_that_is_not_a_name",
    "test_list_streams_says_whether_more_streams_follow",
    "test_list_streams_through_the_async_api",
    "test_metadata_keys_starting_with_dollar_are_reserved",
    "test_multi_stream_batch_is_atomic",
    "test_numbers_beyond_64_bits_are_refused_before_the_storage",
    "test_one_string_as_a_type_filter_is_refused",
    "test_one_string_as_tags_is_refused_by_append",
    "test_partial_retry_is_an_idempotency_conflict",
    "test_positions_strictly_increase_across_streams",
    "test_queries_select_by_type_and_tag",
    "test_racing_appends_with_one_condition_store_one",
    "test_racing_creators_make_one_database",
    "test_racing_processes_keep_versions_contiguous",
    "test_racing_processes_take_a_free_lease_once",
    "test_racing_threads_keep_versions_contiguous",
    "test_racing_threads_take_a_free_lease_once",
    "test_raw_read_keeps_originals_and_shows_restructures",
    "test_read_all_backwards_from_a_position",
    "test_read_all_backwards_gives_payloads_and_restructures",
    "test_read_all_backwards_is_read_all_reversed",
    "test_read_all_backwards_keeps_the_filters",
    "test_read_all_backwards_over_many_pages",
    "test_read_all_filters_by_type",
    "test_read_category_backwards_with_a_type_filter",
    "test_read_stream_window",
    "test_readers_never_see_part_of_a_batch",
    "test_reads_by_tag_page_through_many_events",
    "test_reads_from_any_version_with_restructures_interleaved",
    "test_reads_take_after_and_limit",
    "test_registered_dataclass_round_trips_as_an_instance",
    "test_restructure_hides_an_event_in_every_read",
    "test_restructure_replaces_an_event_in_every_read",
    "test_restructures_apply_to_queries",
    "test_restructures_leave_the_stream_version_alone",
    "test_restructuring_what_does_not_exist_is_refused",
    "test_retry_returns_the_original_result_and_writes_nothing",
    "test_small_limits_read_small_pages",
    "test_stats_count_what_is_stored",
    "test_store_matches_model",
    "test_subscription_catches_up_then_goes_live",
    "test_tags_are_stored_and_read_back",
    "test_tags_given_as_a_list_are_still_taken",
    "test_the_appended_events_may_match_their_own_condition",
    "test_the_async_api_reads_and_appends_events",
    "test_the_backend_wakes_a_waiting_reader",
    "test_the_category_is_the_part_before_the_first_dash",
    "test_the_default_limit_is_64_mib",
    "test_the_idle_timeout_ends_iteration",
    "test_the_largest_numbers_read_as_nothing",
    "test_the_latest_restructure_of_a_version_wins",
    "test_the_reserved_stream_can_be_read_not_written",
    "test_unregistered_type_reads_as_plain_data",
    "test_unserialisable_data_is_refused_before_writing",
    "test_valid_database_names",
    "test_valid_stream_names",
    "test_verify_passes_on_an_empty_database",
    "test_verify_passes_on_healthy_data",
    "test_versions_start_at_zero_and_positions_at_one",
    "test_wrong_expected_version_writes_nothing",
]
