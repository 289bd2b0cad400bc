"""Statements compiled ahead by `gateway.prepared` write what the ORM would have written."""

import uuid
from datetime import timedelta

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Account
from gateway import prepared
from generation.models import GeneratedFile, Generation, JobStatus
from tests.conftest import make_account


def make_job(**fields) -> Generation:
    return Generation.objects.create(kind="generate", provider="sleepy", model="sleepy-1", params={"prompt": "x"},
                                     deadline_at=timezone.now() + timedelta(minutes=5), **fields)


def test_update_is_a_compare_and_swap_run_later(transactional_db):
    job = make_job(status=JobStatus.RUNNING)
    end = prepared.update(Generation.objects.filter(pk=job.pk, status=JobStatus.RUNNING),
                          status=JobStatus.SUCCEEDED, result_meta={"seed": 7})
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING  # compiling wrote nothing
    assert end.run() == 1
    assert end.run() == 0  # the condition no longer holds
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.result_meta == {"seed": 7}


def test_update_returning_names_the_row_it_wrote(transactional_db):
    a = make_account("ret-a", max_concurrency=1)
    take = prepared.update(Account.objects.filter(name="ret-a", active_leases=0), returning="pk", active_leases=1)
    with transaction.atomic():
        assert take.run_returning() == a.pk
        assert take.run_returning() is None
    assert Account.objects.get(pk=a.pk).active_leases == 1


def test_insert_writes_the_rows_bulk_create_would(transactional_db, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    job = make_job()
    records = []
    for index in range(2):
        record = GeneratedFile(job=job, index=index, mime="image/png", width=8, height=4, size_bytes=3)
        record.file.save(f"image_{index}.png", ContentFile(b"png"), save=False)
        records.append(record)
    statements = prepared.insert(records)
    assert not GeneratedFile.objects.exists()
    with transaction.atomic():
        for statement in statements:
            statement.run()
    rows = list(GeneratedFile.objects.filter(job=job).order_by("index").values("index", "file", "mime", "width"))
    assert [r["index"] for r in rows] == [0, 1]
    assert [r["file"] for r in rows] == [r.file.name for r in records]
    assert all(r["mime"] == "image/png" and r["width"] == 8 for r in rows)
    assert prepared.insert([]) == []


def test_insert_returning_pk_gives_the_key_the_database_assigned(transactional_db):
    from django_q.models import OrmQ

    first, second = (prepared.insert([OrmQ(key="k", payload="p", lock=timezone.now())], returning_pk=True)[0]
                     for _ in range(2))
    with transaction.atomic():
        a, b = first.run_returning(), second.run_returning()
    assert sorted(OrmQ.objects.values_list("pk", flat=True)) == sorted([a, b]) and a != b


def test_select_and_count_read_what_the_queryset_would_when_run(transactional_db):
    running = prepared.count(Generation.objects.filter(status=JobStatus.RUNNING))
    both = prepared.count(Generation.objects.filter(status=JobStatus.RUNNING),
                          Account.objects.filter(max_concurrency__gte=2))
    names = prepared.select(Account.objects.filter(max_concurrency__gte=2).order_by("name").values_list("name"))
    assert running.run_returning() == 0 and names.run_all() == []
    make_job(status=JobStatus.RUNNING), make_job(status=JobStatus.RUNNING), make_job(status=JobStatus.QUEUED)
    make_account("sel-b", max_concurrency=3), make_account("sel-a", max_concurrency=2), make_account("sel-c")
    assert running.run_returning() == 2  # compiled before the rows existed, counted when run
    assert both.run_returning() == 2 + 2
    assert names.run_all() == [("sel-a",), ("sel-b",)]


def test_pool_capacity_is_a_template_that_reads_what_a_fresh_query_would(db):
    from accounts import leasing
    from accounts.models import AccountState

    make_account("cap-a", provider="jimeng", region="cn", max_concurrency=3)
    make_account("cap-b", provider="jimeng", region="us", max_concurrency=2, active_leases=1)
    make_account("cap-cool", provider="jimeng", region="cn", max_concurrency=5, state=AccountState.COOLING,
                 state_until=timezone.now() + timedelta(minutes=5))
    make_account("cap-back", provider="jimeng", region="cn", max_concurrency=5, state=AccountState.COOLING,
                 state_until=timezone.now() - timedelta(seconds=1))
    assert leasing._capacity_reader("jimeng", ("cn",)).slots is not None  # bound, not compiled, per call
    assert leasing.pool_capacity("jimeng") == (3 + 2 + 5, 1)
    assert leasing.pool_capacity("jimeng", regions=["cn"]) == (3 + 5, 0)
    assert leasing.pool_capacity("gemini") == (0, 0)


def test_delete_removes_only_its_rows_when_run(transactional_db):
    keep, drop = make_job(), make_job()
    remove = prepared.delete(Generation.objects.filter(pk=drop.pk))
    assert Generation.objects.count() == 2  # compiling deleted nothing
    assert remove.run() == 1
    assert list(Generation.objects.values_list("pk", flat=True)) == [keep.pk]
    assert remove.run() == 0


NOW_FIELD = {"now": Account._meta.get_field("last_used_at")}


def test_template_binds_what_a_fresh_compile_would(db):
    def build(now):
        return prepared.update(Account.objects.filter(state_until__lte=now, provider="jimeng"), last_used_at=now)

    template = prepared.Template(build, NOW_FIELD)
    assert template.slots is not None and len(template.slots["now"]) == 2
    later = timezone.now()
    assert template.bind(now=later) == build(later)


def test_template_of_a_transformed_value_compiles_each_time(db):
    def build(now):
        return prepared.update(Account.objects.filter(state_until__lte=now + timedelta(seconds=5)), last_used_at=now)

    template = prepared.Template(build, NOW_FIELD)
    assert template.slots is None
    later = timezone.now()
    assert template.bind(now=later) == build(later)


def test_the_lease_statements_are_templates(db):
    from accounts import leasing

    shape = leasing._shape("jimeng", ("cn",), (3,), None)
    assert leasing._any_free(*shape).slots is not None
    if prepared.supports_update_returning():
        assert leasing._pick(*shape).slots is not None


def test_the_release_statements_are_templates_and_bind_what_a_compile_would(db):
    from django.db.models import Case, Value, When

    from accounts import leasing, standing
    from accounts.models import AccountLease

    assert leasing._freer().slots is not None
    assert leasing._giver(True).slots is not None and leasing._giver(False).slots is not None
    token, now = uuid.uuid4(), timezone.now()
    one_less = Case(When(active_leases__gt=0, then=F("active_leases") - 1), default=Value(0))
    assert leasing._freer().bind(token=str(token), now=now) == prepared.update(
        AccountLease.objects.filter(token=token, released_at__isnull=True), released_at=now)
    assert leasing._giver(False).bind(account_id=7) == prepared.update(
        Account.objects.filter(pk=7), active_leases=one_less)
    assert leasing._giver(True).bind(account_id=7, now=now) == prepared.update(
        Account.objects.filter(pk=7), **standing.success_update(now), active_leases=one_less)


def test_templates_take_uuid_text_integer_and_json_values(db):
    def build(job_id, worker, attempts, meta):
        return prepared.update(Generation.objects.filter(pk=job_id), worker=worker, attempts=attempts,
                               result_meta=meta)

    fields = {"job_id": Generation._meta.pk, "worker": Generation._meta.get_field("worker"),
              "attempts": Generation._meta.get_field("attempts"), "meta": Generation._meta.get_field("result_meta")}
    template = prepared.Template(build, fields)
    values = dict(job_id=uuid.uuid4(), worker="host:42", attempts=3, meta={"seed": 5, "images": 1})
    assert template.slots is not None  # on PostgreSQL too, where JSON values arrive wrapped (Jsonb)
    assert _comparable(template.bind(**values)) == _comparable(build(**values))


def _comparable(statement: prepared.Statement):
    """A statement with wrapped JSON parameters unwrapped, so two can be compared."""
    return statement.sql, tuple(getattr(p, "obj", p) for p in statement.params), statement.using


def test_a_job_success_is_a_template(db):
    from generation import jobs

    job = make_job(status=JobStatus.RUNNING)
    account = make_account("winner")
    assert jobs._success(True, True).slots is not None
    end = jobs.succeed_ahead(job.pk, account_id=account.pk, meta={"seed": 9, "images": 1})
    assert end.run() == 1 and end.run() == 0  # a compare-and-swap: the first ending wins
    job.refresh_from_db()
    assert (job.status, job.account_id, job.result_meta) == (JobStatus.SUCCEEDED, account.pk, {"seed": 9, "images": 1})
    assert job.finished_at is not None and job.error_code == ""


def test_two_values_of_one_type_keep_their_own_places(db):
    def build(was, now, then):
        return prepared.update(Generation.objects.filter(deliveries=was, created_at__lt=then), deliveries=was + 0,
                               attempts=F("attempts"), finished_at=now)

    def build_two(was, becomes):
        return prepared.update(Generation.objects.filter(deliveries=was), deliveries=becomes)

    ints = {"was": Generation._meta.get_field("deliveries"), "becomes": Generation._meta.get_field("deliveries")}
    template = prepared.Template(build_two, ints)
    assert template.slots is not None and template.slots["was"] != template.slots["becomes"]
    assert template.bind(was=2, becomes=3) == build_two(2, 3)
    dates = {"was": Generation._meta.get_field("deliveries"), "now": Generation._meta.get_field("finished_at"),
             "then": Generation._meta.get_field("created_at")}
    later = timezone.now()
    assert prepared.Template(build, dates).bind(was=4, now=later, then=later + timedelta(1)) == \
        build(4, later, later + timedelta(1))


def test_the_claim_and_the_new_lease_are_templates(db):
    from accounts import leasing
    from generation import jobs

    for template in (jobs._claimer(True), jobs._claimer(False), leasing._lease_writer()):
        assert template.slots is not None
    job = make_job()
    account = make_account("claimer")
    assert jobs.claim(job, account_id=account.pk) and not jobs.claim(Generation.objects.get(pk=job.pk))
    stored = Generation.objects.get(pk=job.pk)
    assert (stored.status, stored.account_id, stored.attempts, stored.tried_accounts, stored.deliveries) == \
        (JobStatus.RUNNING, account.pk, 1, [account.pk], 1)
    assert stored.started_at == stored.heartbeat_at == job.started_at and stored.worker == job.worker


def test_a_template_whose_samples_cannot_be_built_compiles_each_time(db):
    def build(now):
        if now.year < 2000:  # as a query refusing a sample outside its column's range would
            raise ValueError("sample refused")
        return prepared.update(Account.objects.filter(state_until__lte=now), last_used_at=now)

    template = prepared.Template(build, NOW_FIELD)
    assert template.slots is None
    later = timezone.now()
    assert template.bind(now=later) == build(later)


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_a_loader_reads_the_instance_the_orm_would_and_none_when_no_row_matches(transactional_db):
    job = make_job(status=JobStatus.QUEUED, tried_accounts=[3, 5], result_meta={"seed": 7, "ok": True})
    loader = prepared.Loader(lambda job_id, now: Generation.objects.filter(pk=job_id, deadline_at__gt=now),
                             {"job_id": Generation._meta.pk, "now": Generation._meta.get_field("deadline_at")})
    loaded = loader.first(job_id=job.pk, now=timezone.now())
    assert _fields(loaded) == _fields(Generation.objects.get(pk=job.pk))  # JSON, datetimes, UUIDs converted
    assert loaded.deadline_at.tzinfo is not None
    assert not loaded._state.adding and loaded._state.db == "default"  # saves as an update, like a fetched row
    assert loader.first(job_id=job.pk, now=timezone.now() + timedelta(hours=1)) is None
    assert loader.first(job_id=uuid.uuid4(), now=timezone.now()) is None


def test_a_loader_decrypts_an_accounts_credentials_as_the_orm_does(transactional_db):
    account = make_account("loaded", max_concurrency=3, proxy="http://user:pw@proxy.example:8080")
    loader = prepared.Loader(lambda account_id: Account.objects.filter(pk=account_id),
                             {"account_id": Account._meta.pk})
    loaded = loader.first(account_id=account.pk)
    fetched = Account.objects.get(pk=account.pk)
    assert _fields(loaded) == _fields(fetched)
    assert loaded.proxy == "http://user:pw@proxy.example:8080"
    assert loaded.get_credentials() == fetched.get_credentials()
