"""Slot placement and prefix bookkeeping of the scheduler (pure logic; the KV operations are recorded)."""

from __future__ import annotations

from fncall.engine.sampling import SamplingParams
from fncall.engine.scheduler import SCORED_CHUNK, Scheduler, common_prefix
from fncall.engine.sequence import GenerationRequest, Sequence, Status


class RecordingMemory:
    def __init__(self, *, can_truncate: bool = True) -> None:
        self.can_truncate = can_truncate
        self.ops: list[tuple[str, int, int, int]] = []

    def truncate(self, slot: int, n: int) -> bool:
        self.ops.append(("truncate", slot, n, -1))
        return self.can_truncate or n == 0

    def share(self, src: int, dst: int, n: int) -> None:
        self.ops.append(("share", src, dst, n))


def seq(*prompt: int) -> Sequence:
    return Sequence(
        request=GenerationRequest(prompt, SamplingParams()), emit=lambda e: None, max_new_tokens=8
    )


def run_to_end(s: Scheduler, sq: Sequence) -> None:
    """Prefills the sequence's prompt, as the engine would, then retires it."""
    while sq.status is not Status.DECODING:
        for work in s.schedule():
            s.advance(work)
    s.retire(sq, "stop")


def test_common_prefix() -> None:
    assert common_prefix([1, 2, 3], (1, 2, 4)) == 2
    assert common_prefix([], (1,)) == 0
    assert common_prefix([1, 2], (1, 2, 3)) == 2


def test_new_sequence_goes_to_the_slot_holding_its_prefix() -> None:
    memory = RecordingMemory()
    s = Scheduler(n_slots=3, token_budget=64, max_waiting=8, memory=memory)
    a, b = seq(1, 2, 3, 4), seq(7, 8, 9)
    for x in (a, b):
        s.add(x)
        run_to_end(s, x)
    c = seq(7, 8, 5, 6)
    s.add(c)
    s.schedule()
    assert c.slot == b.slot and c.n_cached == c.n_reused == 2
    assert memory.ops[-1] == ("truncate", b.slot, 2, -1)
    assert s.cached[c.slot] == [7, 8]


def test_whole_prompt_cached_still_decodes_its_last_token() -> None:
    s = Scheduler(n_slots=1, token_budget=64, max_waiting=8, memory=RecordingMemory())
    first = seq(1, 2, 3)
    s.add(first)
    run_to_end(s, first)
    again = seq(1, 2, 3)
    s.add(again)
    (work,) = s.schedule()
    assert again.n_reused == 2 and work.tokens == (3,) and work.start_pos == 2 and work.samples


def test_unrelated_prompt_evicts_the_least_recently_used_slot() -> None:
    s = Scheduler(n_slots=2, token_budget=64, max_waiting=8, memory=RecordingMemory())
    old, recent = seq(1, 1, 1), seq(2, 2, 2)
    for x in (old, recent):
        s.add(x)
        run_to_end(s, x)
    other = seq(3, 3, 3)
    s.add(other)
    s.schedule()
    assert other.slot == old.slot and other.n_reused == 0
    assert s.cached[recent.slot] == [2, 2, 2]  # the recent prefix survives


def test_running_sequence_lends_its_prefix_to_a_free_slot() -> None:
    memory = RecordingMemory()
    s = Scheduler(n_slots=2, token_budget=64, max_waiting=8, memory=memory)
    donor = seq(4, 5, 6, 7, 8)
    s.add(donor)
    s.advance(s.schedule()[0])  # prefilled, now decoding (still running)
    donor.output.append(99)  # its first sample
    borrower = seq(4, 5, 6, 9)
    s.add(borrower)
    s.schedule()
    assert borrower.slot != donor.slot and borrower.n_reused == 3
    assert ("share", donor.slot, borrower.slot, 3) in memory.ops
    assert s.cached[borrower.slot] == [4, 5, 6]


def test_cache_that_cannot_drop_a_suffix_starts_from_scratch() -> None:
    s = Scheduler(n_slots=1, token_budget=64, max_waiting=8, memory=RecordingMemory(can_truncate=False))
    first = seq(1, 2, 3)
    s.add(first)
    run_to_end(s, first)
    second = seq(1, 2, 4)
    s.add(second)
    s.schedule()
    assert second.n_reused == 0 and s.cached[second.slot] == []


def rewound_work(can_truncate: bool) -> tuple[Scheduler, Sequence, list[tuple[tuple[int, ...], int, bool]]]:
    """A sequence that decoded two tokens, then had its output replaced by three others (the engine's
    rewrite): the work of the steps until it samples again."""
    s = Scheduler(n_slots=1, token_budget=4, max_waiting=8, memory=RecordingMemory(can_truncate=can_truncate))
    sq = seq(1, 2, 3)
    s.add(sq)
    while sq.status is not Status.DECODING:
        for work in s.schedule():
            s.advance(work)
    for token in (10, 11):  # sampled, then decoded at the next step
        sq.output.append(token)
        for work in s.schedule():
            s.advance(work)
    assert s.cached[sq.slot] == [1, 2, 3, 10, 11]
    s.rewind(sq)
    sq.restart_output([20, 21, 22])
    steps = []
    while not steps or not steps[-1][2]:
        (work,) = s.schedule()
        s.advance(work)
        steps.append((work.tokens, work.start_pos, work.samples))
    assert s.cached[sq.slot] == [1, 2, 3, 20, 21, 22]
    return s, sq, steps


def test_a_rewritten_output_is_decoded_in_place_of_the_old_one() -> None:
    _, _, steps = rewound_work(can_truncate=True)
    assert steps == [((20, 21, 22), 3, True)]  # after the prompt's cells, in one batch, then a sample


def test_a_cache_that_cannot_drop_a_suffix_prefills_the_prompt_again_before_the_new_output() -> None:
    _, sq, steps = rewound_work(can_truncate=False)
    # token budget 4: the prompt (no sample: the output is not decoded yet), then the output
    assert steps == [((1, 2, 3), 0, False), ((20, 21, 22), 3, True)]
    assert sq.status is Status.DECODING


def test_a_prompt_being_prefilled_is_shared_not_computed_again() -> None:
    """Choices of one request (`n`): the later ones wait for the first's prefill, then share its cells."""
    memory = RecordingMemory()
    s = Scheduler(n_slots=3, token_budget=2, max_waiting=8, memory=memory)
    first, second, other = seq(1, 2, 3, 4, 5), seq(1, 2, 3, 4, 5), seq(9, 9)
    for x in (first, second, other):
        s.add(x)
    work = s.schedule()  # a budget of 2: the first prompt takes two steps and more
    assert [w.seq for w in work] == [first] and list(s.waiting) == [second]
    assert other.status is Status.PREFILL  # an unrelated prompt is not held up
    while first.status is not Status.DECODING:
        for w in s.schedule():
            s.advance(w)
    s.schedule()
    assert second.status is Status.PREFILL and second.n_reused == 4  # all but the last prompt token
    assert ("share", first.slot, second.slot, 4) in memory.ops


def test_a_waiting_choice_goes_on_alone_if_the_first_is_cancelled() -> None:
    s = Scheduler(n_slots=2, token_budget=2, max_waiting=8, memory=RecordingMemory())
    first, second = seq(1, 2, 3, 4, 5), seq(1, 2, 3, 4, 5)
    s.add(first)
    s.add(second)
    s.schedule()
    s.retire(first, "cancelled")
    s.schedule()
    assert second.status is Status.PREFILL


def test_a_scored_prompt_is_recomputed_in_small_chunks_with_every_logit() -> None:
    memory = RecordingMemory()
    s = Scheduler(n_slots=1, token_budget=256, max_waiting=8, memory=memory)
    warm = seq(*range(1, 80))
    s.add(warm)
    run_to_end(s, warm)
    scored = Sequence(
        request=GenerationRequest(tuple(range(1, 80)), SamplingParams(logprobs=0, prompt_logprobs=True)),
        emit=lambda e: None,
        max_new_tokens=8,
    )
    s.add(scored)
    chunks = []
    while scored.status is not Status.DECODING:
        for work in s.schedule():
            assert work.scores
            chunks.append(len(work.tokens))
            s.advance(work)
    assert scored.n_reused == 0 and chunks == [SCORED_CHUNK, SCORED_CHUNK, 79 - 2 * SCORED_CHUNK]
