"""A stock-screener schema with deterministic data: a full "server" copy and a drifted "local" one.

Why: the demo must show something worth syncing, and the tests need the awkward cases a real
schema has (Korean text, NULLs, arrays, nested JSON, bytea, a self-referencing key, a generated
column, serial / identity BY DEFAULT / identity ALWAYS keys, a mixed-case table, a table without
any key, a second schema), with row counts known in advance.

Every row is computed inside PostgreSQL (``generate_series`` plus seeded hashes), never in
Python, so a million rows take seconds. Seeded hashes of integers (``hashint8extended``) make the
data identical on every run, machine and PostgreSQL version (11 and later), which is what lets
:func:`expected_counts` state the counts and lets the local copy come from the same formulas:

* the server holds everything;
* the local copy is older: the newest tenth of users, stocks, settings, trading days, scan days
  and watch-list entries is missing (children of old rows only point at old parents, so the
  copy is consistent), some leaf rows are missing, some rows differ (older ``updated_at``),
  a few rows exist only locally (keys far above the server's), and ``public.local_notes``
  exists only locally;
* ``public.sectors``, a small lookup table, holds the same rows on both sides, but the server's
  fee rates and one English name changed since the copy: equal counts, different content,
  which only a content diff (``c`` in the console, ``dbconsole diff``) shows.

Foreign keys and secondary indexes are created after the data, as ``pg_restore`` does: one
validating join is much faster than a million row-by-row checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import psycopg
from psycopg import sql

SEED_TABLES: tuple[str, ...] = (
    "public.users",
    "public.stocks",
    "public.scanner_settings",
    "public.scan_rank",
    "public.price_history",
    'public."WatchList"',
    "public.audit_log",
    "analytics.daily_summary",
)
"""Tables present on both sides, parents before children, as SQL (quoted where needed)."""

LOCAL_ONLY_TABLES: tuple[str, ...] = ("public.local_notes",)

SAME_COUNT_TABLES: tuple[str, ...] = ("public.sectors",)
"""Tables on both sides with equal row counts whose content differs (see ``SECTOR_CHANGES``)."""

LOCAL_ONLY_ROWS: dict[str, int] = {
    "public.users": 2,
    "public.stocks": 1,
    "public.scanner_settings": 2,
    "public.price_history": 5,
    'public."WatchList"': 3,
    "public.audit_log": 5,
    "public.local_notes": 10,
}
"""Rows that exist only in the local copy (their keys are far above any server key)."""

LOCAL_ONLY_ID_BASE = 10_000_000
"""Local-only rows of tables with numeric keys use ids above this."""

LOCAL_ONLY_SYMBOL = "999990"


@dataclass(frozen=True)
class SeedScale:
    """How many rows to generate. ``price_history`` holds ``stocks * trading_days`` rows."""

    users: int
    stocks: int
    scanner_settings: int
    trading_days: int
    scan_days: int
    ranks_per_day: int
    watchlist: int
    audit_log: int

    TEST: ClassVar[SeedScale]
    DEMO: ClassVar[SeedScale]

    def __post_init__(self) -> None:
        if self.stocks < 10 or self.users < 10 or self.scanner_settings < 10:
            raise ValueError("a seed needs at least 10 users, stocks and scanner settings")
        if self.ranks_per_day > self.stocks or self.scan_days > self.trading_days:
            raise ValueError("ranks_per_day must not exceed stocks, nor scan_days trading_days")


SeedScale.TEST = SeedScale(
    users=200,
    stocks=50,
    scanner_settings=300,
    trading_days=60,
    scan_days=20,
    ranks_per_day=25,
    watchlist=400,
    audit_log=500,
)
SeedScale.DEMO = SeedScale(
    users=20_000,
    stocks=2_000,
    scanner_settings=30_000,
    trading_days=500,
    scan_days=250,
    ranks_per_day=100,
    watchlist=50_000,
    audit_log=100_000,
)


SECTOR_CHANGES: dict[str, str] = {"S03": "fee_rate", "S07": "fee_rate", "S11": "fee_rate", "S14": "name_en"}
"""The rows of ``public.sectors`` that differ between the two sides, and the column that does."""


def old(count: int) -> int:
    """How many of ``count`` rows the older local copy has: all but the newest tenth."""
    return count - count // 10


# Real KOSPI/KOSDAQ names, sorted by code so that symbol order follows the generator's index.
_REAL_STOCKS = (
    ("000270", "기아", "KOSPI", "운수장비"),
    ("000660", "SK하이닉스", "KOSPI", "전기전자"),
    ("000720", "현대건설", "KOSPI", "건설업"),
    ("003490", "대한항공", "KOSPI", "운수창고업"),
    ("005380", "현대차", "KOSPI", "운수장비"),
    ("005490", "POSCO홀딩스", "KOSPI", "철강금속"),
    ("005930", "삼성전자", "KOSPI", "전기전자"),
    ("006400", "삼성SDI", "KOSPI", "전기전자"),
    ("009150", "삼성전기", "KOSPI", "전기전자"),
    ("010130", "고려아연", "KOSPI", "철강금속"),
    ("010950", "S-Oil", "KOSPI", "화학"),
    ("011170", "롯데케미칼", "KOSPI", "화학"),
    ("011200", "HMM", "KOSPI", "운수창고업"),
    ("012330", "현대모비스", "KOSPI", "운수장비"),
    ("012450", "한화에어로스페이스", "KOSPI", "기계"),
    ("015760", "한국전력", "KOSPI", "전기가스업"),
    ("017670", "SK텔레콤", "KOSPI", "통신업"),
    ("028260", "삼성물산", "KOSPI", "유통업"),
    ("032830", "삼성생명", "KOSPI", "보험업"),
    ("033780", "KT&G", "KOSPI", "음식료품"),
    ("034020", "두산에너빌리티", "KOSPI", "기계"),
    ("035420", "NAVER", "KOSPI", "서비스업"),
    ("035720", "카카오", "KOSPI", "서비스업"),
    ("036570", "엔씨소프트", "KOSPI", "서비스업"),
    ("051910", "LG화학", "KOSPI", "화학"),
    ("055550", "신한지주", "KOSPI", "금융업"),
    ("066570", "LG전자", "KOSPI", "전기전자"),
    ("068270", "셀트리온", "KOSPI", "의약품"),
    ("086520", "에코프로", "KOSDAQ", "일반전기전자"),
    ("086790", "하나금융지주", "KOSPI", "금융업"),
    ("090430", "아모레퍼시픽", "KOSPI", "화학"),
    ("096770", "SK이노베이션", "KOSPI", "화학"),
    ("097950", "CJ제일제당", "KOSPI", "음식료품"),
    ("105560", "KB금융", "KOSPI", "금융업"),
    ("207940", "삼성바이오로직스", "KOSPI", "의약품"),
    ("247540", "에코프로비엠", "KOSDAQ", "일반전기전자"),
    ("259960", "크래프톤", "KOSPI", "서비스업"),
    ("323410", "카카오뱅크", "KOSPI", "금융업"),
    ("352820", "하이브", "KOSPI", "서비스업"),
    ("373220", "LG에너지솔루션", "KOSPI", "전기전자"),
)
_NAME_PREFIXES = ["한국", "대한", "동양", "서울", "부산", "미래", "신성", "태평양", "광주", "대성", "우리", "삼화", "한일", "동아", "제일", "금호"]
_NAME_SUFFIXES = ["전자", "바이오", "화학", "건설", "제약", "반도체", "에너지", "소재", "식품", "중공업", "테크", "로보틱스", "엔터", "통신", "증권", "해운"]
_SECTORS = ["전기전자", "의약품", "화학", "건설업", "의약품", "전기전자", "전기가스업", "화학", "음식료품", "기계", "서비스업", "기계", "서비스업", "통신업", "금융업", "운수창고업"]
_SURNAMES = ["김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권", "황", "안", "송", "류", "홍"]
_SECTOR_NAMES = [("전기전자", "Electrical & Electronics"), ("의약품", "Pharmaceuticals"), ("화학", "Chemicals"),
                 ("건설업", "Construction"), ("전기가스업", "Utilities"), ("음식료품", "Food & Beverages"),
                 ("기계", "Machinery"), ("서비스업", "Services"), ("통신업", "Telecom"), ("금융업", "Finance"),
                 ("운수창고업", "Transport & Storage"), ("운수장비", "Transport Equipment"), ("철강금속", "Steel & Metals"),
                 ("유통업", "Distribution"), ("보험업", "Insurance"), ("일반전기전자", "General Electronics")]
_GIVEN_NAMES = ["민준", "서연", "도윤", "서윤", "예준", "지우", "시우", "하윤", "주원", "지유", "하준", "서현", "지호", "민서", "준서", "하은", "준우", "수아", "현우", "지민", "도현", "윤서", "건우", "채원"]
# The last tag needs quoting inside an array literal: a comma, a space and double quotes.
_TAGS = ["가치주", "성장주", "배당", "모멘텀", "ESG", "단타", "장기투자", 'buy & hold, "safe"']
_SCANNER_NAMES = ["거래량 급증", "골든크로스", "52주 신고가", "저PER 가치주", "외국인 순매수", "기관 매집", "눌림목", "갭 상승"]
_NOTES = ["실적 발표 확인", "목표가 도달 시 매도", "배당락일 체크", "장기 보유", "손절 라인 -7%", "분할 매수 중"]

SCHEMA_SQL = """
CREATE TABLE public.users (
    id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    email        text NOT NULL UNIQUE,
    display_name text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    is_active    boolean NOT NULL DEFAULT true,
    avatar       bytea,
    tags         text[],
    referred_by  bigint,
    settings     jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE public.stocks (
    symbol       text PRIMARY KEY,
    name         text NOT NULL,
    market       text NOT NULL CHECK (market IN ('KOSPI', 'KOSDAQ', 'KONEX')),
    sector       text,
    listed_on    date,
    display_name text GENERATED ALWAYS AS (symbol || ' ' || name) STORED,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.scanner_settings (
    id         serial PRIMARY KEY,
    user_id    bigint NOT NULL,
    name       text,
    config     jsonb NOT NULL DEFAULT '{}',
    thresholds numeric[],
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.scan_rank (
    scan_date  date NOT NULL,
    symbol     text NOT NULL,
    rank       integer NOT NULL,
    score      numeric(12, 4) NOT NULL,
    setting_id integer,
    payload    jsonb,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scan_date, symbol)
);

CREATE TABLE public.price_history (
    symbol     text NOT NULL,
    trade_date date NOT NULL,
    open       numeric(14, 2) NOT NULL,
    high       numeric(14, 2) NOT NULL,
    low        numeric(14, 2) NOT NULL,
    close      numeric(14, 2) NOT NULL,
    volume     bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- PRIMARY KEY (symbol, trade_date) is added after the million rows: see POST_LOAD_SQL.
    CHECK (low <= least(open, close) AND high >= greatest(open, close))
);

CREATE TABLE public."WatchList" (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL,
    symbol     text NOT NULL,
    "addedAt"  timestamptz NOT NULL DEFAULT now(),
    note       text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Deliberately without a primary key or unique constraint (and with duplicate rows).
CREATE TABLE public.audit_log (
    id          bigint,
    happened_at timestamptz NOT NULL,
    message     text
);

-- A small lookup table: same rows on both sides, some values changed on the server.
CREATE TABLE public.sectors (
    code       text PRIMARY KEY,
    name       text NOT NULL,
    name_en    text,
    fee_rate   numeric(6, 4) NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE SCHEMA analytics;

CREATE TABLE analytics.daily_summary (
    day        date PRIMARY KEY,
    stats      jsonb NOT NULL,
    avg_score  numeric(12, 4),
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""

# The big table's key, relationships and secondary indexes: created after the data when
# seeding (see the module doc); one index build beats a million index insertions.
POST_LOAD_SQL = """
ALTER TABLE public.price_history ADD PRIMARY KEY (symbol, trade_date);

ALTER TABLE public.users
    ADD CONSTRAINT users_referred_by_fkey FOREIGN KEY (referred_by) REFERENCES public.users (id) ON DELETE SET NULL;
ALTER TABLE public.scanner_settings
    ADD CONSTRAINT scanner_settings_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users (id) ON DELETE CASCADE;
ALTER TABLE public.scan_rank
    ADD CONSTRAINT scan_rank_symbol_fkey FOREIGN KEY (symbol) REFERENCES public.stocks (symbol),
    ADD CONSTRAINT scan_rank_setting_id_fkey FOREIGN KEY (setting_id) REFERENCES public.scanner_settings (id) ON DELETE SET NULL;
ALTER TABLE public.price_history
    ADD CONSTRAINT price_history_symbol_fkey FOREIGN KEY (symbol) REFERENCES public.stocks (symbol);
ALTER TABLE public."WatchList"
    ADD CONSTRAINT "WatchList_user_id_fkey" FOREIGN KEY (user_id) REFERENCES public.users (id) ON DELETE CASCADE,
    ADD CONSTRAINT "WatchList_symbol_fkey" FOREIGN KEY (symbol) REFERENCES public.stocks (symbol);

CREATE INDEX price_history_trade_date_idx ON public.price_history (trade_date);
CREATE INDEX scan_rank_symbol_idx ON public.scan_rank (symbol);
CREATE INDEX "WatchList_user_id_idx" ON public."WatchList" (user_id);
"""

_LOCAL_NOTES_SQL = """
CREATE TABLE public.local_notes (
    id         serial PRIMARY KEY,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""


def create_schema(conn: psycopg.Connection) -> None:
    """Create the (empty) schema: tables, keys, relationships, indexes."""
    with conn.transaction():
        conn.execute(SCHEMA_SQL)
        conn.execute(POST_LOAD_SQL)


def seed_server(conn: psycopg.Connection, scale: SeedScale = SeedScale.TEST) -> None:
    """Create the schema in the (empty) database of ``conn`` and fill it with the full data."""
    _seed(conn, scale, local=False)


def seed_local(conn: psycopg.Connection, scale: SeedScale = SeedScale.TEST) -> None:
    """Create the schema and fill it with the older, partial, drifted local copy."""
    _seed(conn, scale, local=True)


def expected_counts(scale: SeedScale, side: str) -> dict[str, int]:
    """Row count of every table right after ``seed_server`` (``side="server"``) or ``seed_local``."""
    s = scale
    if side == "server":
        return {
            "public.users": s.users,
            "public.stocks": s.stocks,
            "public.scanner_settings": s.scanner_settings,
            "public.scan_rank": s.scan_days * s.ranks_per_day,
            "public.price_history": s.stocks * s.trading_days,
            'public."WatchList"': s.watchlist,
            "public.audit_log": s.audit_log + s.audit_log // 50,
            "analytics.daily_summary": s.scan_days,
            "public.sectors": len(_SECTOR_NAMES),
        }
    if side != "local":
        raise ValueError(f"side must be 'server' or 'local', not {side!r}")
    local_scan_rows = sum(
        1
        for day in range(old(s.scan_days))
        for rank in range(1, s.ranks_per_day + 1)
        if _scan_stock_ix(day, rank, s.stocks) <= old(s.stocks)
    )
    counts = {
        "public.users": old(s.users),
        "public.stocks": old(s.stocks),
        "public.scanner_settings": old(s.scanner_settings),
        "public.scan_rank": local_scan_rows,
        "public.price_history": old(s.stocks) * old(s.trading_days),
        'public."WatchList"': old(s.watchlist) - old(s.watchlist) // 20,
        "public.audit_log": old(s.audit_log) - old(s.audit_log) // 25,
        "analytics.daily_summary": old(s.scan_days),
        "public.local_notes": 0,
        "public.sectors": len(_SECTOR_NAMES),
    }
    return {table: n + LOCAL_ONLY_ROWS.get(table, 0) for table, n in counts.items()}


def _scan_stock_ix(day: int, rank: int, stocks: int) -> int:
    """Which stock (1-based index) holds ``rank`` on scan day ``day``; same formula as the SQL."""
    return (day * 31 + rank - 1) % stocks + 1


# ------------------------------------------------------------------------------------ loading


def _seed(conn: psycopg.Connection, scale: SeedScale, *, local: bool) -> None:
    params = _params(scale, local)
    with conn.transaction():
        conn.execute(SCHEMA_SQL)
        _create_helpers(conn)
        for statement in (
            _USERS, _STOCKS, _SCANNER_SETTINGS, _SCAN_RANK, _PRICE_HISTORY, _WATCHLIST, _AUDIT_LOG, _DAILY_SUMMARY,
            _SECTOR_ROWS,
        ):
            conn.execute(statement, params)
        if local:
            for statement in _LOCAL_DRIFT:
                conn.execute(statement)
            conn.execute(_LOCAL_NOTES_SQL)
            for statement in _LOCAL_ONLY:
                conn.execute(statement, params)
        conn.execute(POST_LOAD_SQL)
        conn.execute(_SYNC_SEQUENCES)
        conn.execute(_DROP_HELPERS)
    # After the commit: on rows of a still-open transaction ANALYZE is several times slower.
    with conn.transaction():
        conn.execute("ANALYZE")


def _params(scale: SeedScale, local: bool) -> dict[str, object]:
    """Query parameters. On the local side, every ``*_upto`` is the older copy's cut-off."""
    s = scale

    def upto(count: int) -> int:
        return old(count) if local else count

    return {
        "local": local,
        "users": s.users, "users_old": old(s.users), "users_upto": upto(s.users),
        "stocks": s.stocks, "stocks_old": old(s.stocks), "stocks_upto": upto(s.stocks),
        "settings": s.scanner_settings, "settings_old": old(s.scanner_settings),
        "settings_upto": upto(s.scanner_settings),
        "days": s.trading_days, "days_upto": upto(s.trading_days),
        "scan_days": s.scan_days, "scan_days_upto": upto(s.scan_days), "ranks": s.ranks_per_day,
        "watchlist": s.watchlist, "watchlist_old": old(s.watchlist), "watchlist_upto": upto(s.watchlist),
        "audit": s.audit_log, "audit_upto": upto(s.audit_log),
        "real_names": [r[1] for r in _REAL_STOCKS], "real_markets": [r[2] for r in _REAL_STOCKS],
        "real_sectors": [r[3] for r in _REAL_STOCKS],
        "prefixes": _NAME_PREFIXES, "suffixes": _NAME_SUFFIXES, "sectors": _SECTORS,
        "surnames": _SURNAMES, "given": _GIVEN_NAMES, "tags": _TAGS,
        "scanner_names": _SCANNER_NAMES, "notes": _NOTES,
        "sector_names": [n for n, _ in _SECTOR_NAMES], "sector_names_en": [e for _, e in _SECTOR_NAMES],
        "id_base": LOCAL_ONLY_ID_BASE, "local_symbol": LOCAL_ONLY_SYMBOL,
    }


def _create_helpers(conn: psycopg.Connection) -> None:
    """Session-local SQL functions (inlined by the planner) that keep the generators readable."""
    codes = sql.Literal([r[0] for r in _REAL_STOCKS])
    conn.execute(
        sql.SQL("""
CREATE FUNCTION pg_temp.rnd(key bigint, salt integer) RETURNS double precision
    LANGUAGE sql IMMUTABLE AS
$$ SELECT (hashint8extended(key, salt) & 281474976710655)::double precision / 281474976710656.0 $$;

CREATE FUNCTION pg_temp.pick(key bigint, salt integer, n bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE AS
$$ SELECT 1 + floor(pg_temp.rnd(key, salt) * n)::bigint $$;

CREATE FUNCTION pg_temp.trading_day(d integer) RETURNS date
    LANGUAGE sql IMMUTABLE AS
$$ SELECT date '2023-01-02' + (d / 5) * 7 + d % 5 $$;

CREATE FUNCTION pg_temp.symbol_of(ix bigint) RETURNS text
    LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN ix <= {n_real} THEN ({codes}::text[])[ix] ELSE '9' || lpad(ix::text, 5, '0') END $$;
""").format(n_real=sql.Literal(len(_REAL_STOCKS)), codes=codes)
    )


_DROP_HELPERS = """
DROP FUNCTION pg_temp.symbol_of(bigint), pg_temp.trading_day(integer),
    pg_temp.pick(bigint, integer, bigint), pg_temp.rnd(bigint, integer)
"""

# The generators below use psycopg placeholders (%(name)s): modulo is therefore written mod(),
# and a literal percent sign (in format() patterns) is doubled.

# Users sign up over two years; the local copy has the first ``users_upto``. A referrer is
# always an earlier user, so the older copy never points at a missing one.
_USERS = """
INSERT INTO public.users (id, email, display_name, created_at, updated_at, is_active, avatar, tags, referred_by, settings)
SELECT g,
       format('user%%s@stockfinder.example', g),
       (%(surnames)s::text[])[pg_temp.pick(g, 1, 20)] || (%(given)s::text[])[pg_temp.pick(g, 2, 24)],
       created,
       created + (1 + pg_temp.rnd(g, 3) * 30) * interval '1 day',
       mod(g, 17) <> 0,
       CASE WHEN mod(g, 10) = 0 THEN decode(md5(g::text) || md5((-g)::text), 'hex') END,
       CASE WHEN mod(g, 13) <> 0 THEN (%(tags)s::text[])[mod(g, 6) + 1 : mod(g, 6) + mod(g, 4)] END,
       CASE WHEN g > 1 AND mod(g, 3) <> 0 THEN pg_temp.pick(g, 4, g - 1) END,
       jsonb_build_object(
           'theme', CASE WHEN mod(g, 2) = 0 THEN 'dark' ELSE 'light' END,
           'lang', 'ko',
           'notifications', jsonb_build_object('email', mod(g, 4) = 0, 'push', mod(g, 3) <> 0),
           'favorite_markets', CASE WHEN mod(g, 5) = 0 THEN '[]'::jsonb ELSE '["KOSPI", "KOSDAQ"]'::jsonb END)
FROM generate_series(1, %(users_upto)s) AS g,
     LATERAL (SELECT timestamptz '2023-01-01 09:00:00+09' + g * (interval '700 days' / %(users)s)) AS t(created)
"""

# The first 40 stocks are real; the rest get a made-up name and a '9xxxxx' code.
_STOCKS = """
INSERT INTO public.stocks (symbol, name, market, sector, listed_on, updated_at)
SELECT pg_temp.symbol_of(ix),
       COALESCE((%(real_names)s::text[])[ix],
                (%(prefixes)s::text[])[pg_temp.pick(ix, 11, 16)] || (%(suffixes)s::text[])[pg_temp.pick(ix, 12, 16)]),
       COALESCE((%(real_markets)s::text[])[ix], (ARRAY['KOSPI', 'KOSDAQ', 'KOSDAQ', 'KONEX'])[pg_temp.pick(ix, 13, 4)]),
       COALESCE((%(real_sectors)s::text[])[ix], (%(sectors)s::text[])[pg_temp.pick(ix, 12, 16)]),
       date '1975-06-02' + floor(pg_temp.rnd(ix, 14) * 17000)::integer,
       timestamptz '2024-06-01 18:00:00+09' + ix * interval '1 minute'
FROM generate_series(1, %(stocks_upto)s) AS ix
"""

# Old settings belong to old users; new ones to anyone.
_SCANNER_SETTINGS = """
INSERT INTO public.scanner_settings (id, user_id, name, config, thresholds, updated_at)
SELECT g,
       pg_temp.pick(g, 21, CASE WHEN g <= %(settings_old)s THEN %(users_old)s ELSE %(users)s END),
       CASE WHEN mod(g, 11) <> 0 THEN (%(scanner_names)s::text[])[pg_temp.pick(g, 22, 8)] END,
       jsonb_build_object(
           'version', 2,
           'filters', jsonb_build_object(
               'markets', CASE WHEN mod(g, 3) = 0 THEN '["KOSDAQ"]'::jsonb ELSE '["KOSPI", "KOSDAQ"]'::jsonb END,
               'min_volume', floor(pg_temp.rnd(g, 23) * 1000000)::integer,
               'price', jsonb_build_object('min', 1000, 'max', CASE WHEN mod(g, 4) <> 0 THEN 500000 END)),
           'sort', jsonb_build_object('by', 'score', 'desc', true),
           'notify', CASE WHEN mod(g, 4) <> 0 THEN jsonb_build_object('channel', 'push', 'quiet_hours', jsonb_build_array(22, 7)) END),
       CASE WHEN mod(g, 7) <> 0 THEN ARRAY[floor(pg_temp.rnd(g, 24) * 1000) / 100, floor(pg_temp.rnd(g, 25) * 10000) / 100]::numeric[] END,
       timestamptz '2024-01-01 09:00:00+09' + g * (interval '400 days' / %(settings)s) + interval '2 days'
FROM generate_series(1, %(settings_upto)s) AS g
"""

# The top ``ranks`` stocks of each scan day; scan days are the last trading days. The stock of
# a (day, rank) is _scan_stock_ix() in Python. Local rows only reference stocks it has.
_SCAN_RANK = """
INSERT INTO public.scan_rank (scan_date, symbol, rank, score, setting_id, payload, updated_at)
SELECT pg_temp.trading_day(%(days)s - %(scan_days)s + day),
       pg_temp.symbol_of(ix),
       rank,
       (100 - rank * (90.0 / %(ranks)s) + pg_temp.rnd(day * 10000 + rank, 31) * 0.5)::numeric(12, 4),
       CASE WHEN mod(rank, 4) <> 0 THEN pg_temp.pick(day * 10000 + rank, 32, %(settings_old)s) END,
       jsonb_build_object(
           'signals', CASE WHEN mod(rank, 3) = 0 THEN '["volume_spike"]'::jsonb ELSE '["golden_cross", "new_high"]'::jsonb END,
           'volume_ratio', round((1 + pg_temp.rnd(day * 10000 + rank, 33) * 9)::numeric, 2),
           'memo', CASE WHEN rank = 1 THEN '오늘의 1위' END),
       pg_temp.trading_day(%(days)s - %(scan_days)s + day)::timestamp AT TIME ZONE 'UTC' + interval '7 hours'
FROM generate_series(0, %(scan_days_upto)s - 1) AS day,
     generate_series(1, %(ranks)s) AS rank,
     LATERAL (SELECT mod(day * 31 + rank - 1, %(stocks)s) + 1) AS s(ix)
WHERE ix <= %(stocks_upto)s
"""

# A seasonal walk around a per-stock base price (at least 5,000 won, so that a 1% open gap
# always stays inside the 1.2% high/low band), on KRW ticks of 10. ``OFFSET 0`` keeps the
# planner from inlining ``price`` into each of the four columns that use it; the LATERAL
# reference to ``ix`` makes stocks the outer loop, so rows are stored in primary-key order.
_PRICE_HISTORY = """
INSERT INTO public.price_history (symbol, trade_date, open, high, low, close, volume, updated_at)
SELECT pg_temp.symbol_of(ix),
       pg_temp.trading_day(d),
       (round(price * (1 + (pg_temp.rnd(ix * 100000 + d, 44) - 0.5) * 0.02) / 10) * 10)::bigint,
       (ceil(price * 1.012 / 10) * 10)::bigint,
       (floor(price * 0.988 / 10) * 10)::bigint,
       (round(price / 10) * 10)::bigint,
       floor(pg_temp.rnd(ix * 100000 + d, 45) * 2000000)::bigint + 100,
       pg_temp.trading_day(d)::timestamp AT TIME ZONE 'UTC' + interval '6 hours 40 minutes'
FROM (SELECT ix, d,
             (5000 + pg_temp.rnd(ix, 41) * 300000)
             * (1 + 0.25 * sin(d::double precision / 23 + pg_temp.rnd(ix, 42) * 6.28)
                  + 0.05 * (pg_temp.rnd(ix * 100000 + d, 43) - 0.5)) AS price
      FROM generate_series(1, %(stocks_upto)s) AS ix,
           LATERAL generate_series(0, %(days_upto)s - 1 + 0 * ix) AS d
      OFFSET 0) AS walk
"""

# Notes are NULL, Korean, or the empty string (which a sync must not turn into NULL).
_WATCHLIST = """
INSERT INTO public."WatchList" (id, user_id, symbol, "addedAt", note, updated_at)
OVERRIDING SYSTEM VALUE
SELECT g,
       pg_temp.pick(g, 51, CASE WHEN g <= %(watchlist_old)s THEN %(users_old)s ELSE %(users)s END),
       pg_temp.symbol_of(pg_temp.pick(g, 52, CASE WHEN g <= %(watchlist_old)s THEN %(stocks_old)s ELSE %(stocks)s END)),
       added,
       CASE mod(g, 4) WHEN 0 THEN NULL WHEN 1 THEN (%(notes)s::text[])[pg_temp.pick(g, 53, 6)] WHEN 2 THEN '' ELSE 'target ' || g END,
       added + interval '3 hours'
FROM generate_series(1, %(watchlist_upto)s) AS g,
     LATERAL (SELECT timestamptz '2023-03-01 10:00:00+09' + g * (interval '600 days' / %(watchlist)s)) AS t(added)
WHERE NOT %(local)s OR mod(g, 20) <> 0
"""

# Every 50th entry is logged twice: exact duplicates, as tables without a key tend to collect.
_AUDIT_LOG = """
INSERT INTO public.audit_log (id, happened_at, message)
SELECT g,
       timestamptz '2023-01-01 00:00:00+09' + g * interval '7 minutes',
       format('%%s 님이 %%s 설정을 변경했습니다 (#%%s)',
              (%(surnames)s::text[])[pg_temp.pick(g, 61, 20)] || (%(given)s::text[])[pg_temp.pick(g, 62, 24)],
              (%(scanner_names)s::text[])[pg_temp.pick(g, 63, 8)], g)
FROM generate_series(1, %(audit_upto)s) AS g,
     LATERAL generate_series(1, CASE WHEN mod(g, 50) = 0 THEN 2 ELSE 1 END) AS copies
WHERE NOT %(local)s OR mod(g, 25) <> 0
"""

_DAILY_SUMMARY = """
INSERT INTO analytics.daily_summary (day, stats, avg_score, updated_at)
SELECT pg_temp.trading_day(%(days)s - %(scan_days)s + day),
       jsonb_build_object(
           'scanned', %(stocks)s,
           'ranked', %(ranks)s,
           'top', jsonb_build_array(pg_temp.symbol_of(mod(day * 31, %(stocks)s) + 1),
                                    pg_temp.symbol_of(mod(day * 31 + 1, %(stocks)s) + 1)),
           'by_market', jsonb_build_object('KOSPI', 40 + mod(day, 7), 'KOSDAQ', 60 - mod(day, 7))),
       (50 + pg_temp.rnd(day, 71) * 10)::numeric(12, 4),
       pg_temp.trading_day(%(days)s - %(scan_days)s + day)::timestamp AT TIME ZONE 'UTC' + interval '8 hours'
FROM generate_series(0, %(scan_days_upto)s - 1) AS day
"""

# Sixteen sectors, identical on both sides until _LOCAL_DRIFT gives the local copy older values.
_SECTOR_ROWS = """
INSERT INTO public.sectors (code, name, name_en, fee_rate, updated_at)
SELECT 'S' || lpad(i::text, 2, '0'), n, e, (0.0015 + i * 0.0001)::numeric(6, 4),
       timestamptz '2024-03-01 09:00:00+09'
FROM unnest(%(sector_names)s::text[], %(sector_names_en)s::text[]) WITH ORDINALITY AS s(n, e, i)
"""

# What changed on the server since the local copy was taken: these local rows still hold the
# older values, with an ``updated_at`` before the server's.
_LOCAL_DRIFT = (
    """UPDATE public.users
          SET display_name = display_name || ' (구)', settings = settings - 'notifications', updated_at = created_at
        WHERE mod(id, 10) = 3""",
    """UPDATE public.stocks
          SET name = name || ' (구)', updated_at = updated_at - interval '90 days'
        WHERE right(symbol, 1) IN ('0', '5')""",
    """UPDATE public.scanner_settings
          SET config = jsonb_set(config, '{version}', '1'), thresholds = NULL, updated_at = updated_at - interval '1 day'
        WHERE mod(id, 5) = 1""",
    """UPDATE public.scan_rank
          SET score = score - 1, payload = payload || '{"stale": true}', updated_at = updated_at - interval '1 hour'
        WHERE mod(rank, 5) = 0 AND mod(scan_date - date '2023-01-02', 4) = 1""",
    """UPDATE public.price_history
          SET close = close - 10, updated_at = updated_at - interval '1 hour'
        WHERE mod(trade_date - date '2023-01-02', 11) = 5 AND right(symbol, 1) IN ('0', '3', '6')""",
    """UPDATE public."WatchList"
          SET note = COALESCE(note, '') || ' (수정 전)', updated_at = updated_at - interval '1 day'
        WHERE mod(id, 9) = 4""",
    """UPDATE public.sectors
          SET fee_rate = fee_rate - 0.0005, updated_at = updated_at - interval '30 days'
        WHERE code IN ('S03', 'S07', 'S11')""",
    """UPDATE public.sectors SET name_en = NULL, updated_at = updated_at - interval '30 days' WHERE code = 'S14'""",
    """UPDATE analytics.daily_summary
          SET avg_score = avg_score - 0.5, updated_at = updated_at - interval '1 day'
        WHERE mod(day - date '2023-01-02', 6) = 0""",
)

# Rows a developer created locally. Their keys are far above the server's, and their unique
# values (emails) cannot collide with server rows, so a server-to-local upsert keeps them.
_LOCAL_ONLY = (
    """INSERT INTO public.users (id, email, display_name, created_at, updated_at, tags, referred_by, settings)
       SELECT %(id_base)s + g, format('dev%%s@local.test', g), format('로컬 테스터 %%s', g),
              timestamptz '2025-01-02 10:00:00+09', timestamptz '2025-01-02 10:00:00+09', ARRAY['테스트'], 1,
              '{"lang": "ko"}'
       FROM generate_series(1, 2) AS g""",
    """INSERT INTO public.stocks (symbol, name, market, sector, listed_on, updated_at)
       VALUES (%(local_symbol)s, '로컬테스트종목', 'KONEX', NULL, NULL, timestamptz '2025-01-02 10:00:00+09')""",
    """INSERT INTO public.price_history (symbol, trade_date, open, high, low, close, volume, updated_at)
       SELECT %(local_symbol)s, pg_temp.trading_day(d), 1000, 1100, 900, 1050, 10, timestamptz '2025-01-02 10:00:00+09'
       FROM generate_series(0, 4) AS d""",
    """INSERT INTO public.scanner_settings (id, user_id, name, config, thresholds, updated_at)
       SELECT %(id_base)s + g, %(id_base)s + 1, '로컬 실험 ' || g, '{"version": 3, "draft": true}', NULL,
              timestamptz '2025-01-02 10:00:00+09'
       FROM generate_series(1, 2) AS g""",
    """INSERT INTO public."WatchList" (id, user_id, symbol, "addedAt", note, updated_at)
       OVERRIDING SYSTEM VALUE
       SELECT %(id_base)s + g, %(id_base)s + 1, CASE WHEN g = 3 THEN %(local_symbol)s ELSE pg_temp.symbol_of(g) END,
              timestamptz '2025-01-02 10:00:00+09', '로컬 메모', timestamptz '2025-01-02 10:00:00+09'
       FROM generate_series(1, 3) AS g""",
    """INSERT INTO public.audit_log (id, happened_at, message)
       SELECT %(id_base)s + g, timestamptz '2025-01-02 10:00:00+09' + g * interval '1 minute', '로컬 디버그 로그 ' || g
       FROM generate_series(1, 5) AS g""",
    """INSERT INTO public.local_notes (body, created_at)
       SELECT format('메모 %%s: 동기화 전에 확인할 것', g), timestamptz '2025-01-02 09:00:00+09' + g * interval '1 hour'
       FROM generate_series(1, 10) AS g""",
)

# Explicit ids were inserted, so each sequence is moved to the largest id.
_SYNC_SEQUENCES = """
SELECT setval(pg_get_serial_sequence('public.users', 'id'), max(id)) FROM public.users;
SELECT setval(pg_get_serial_sequence('public.scanner_settings', 'id'), max(id)) FROM public.scanner_settings;
SELECT setval(pg_get_serial_sequence('public."WatchList"', 'id'), max(id)) FROM public."WatchList";
"""
