"""The demo district (DESIGN §9): a deterministic model of the Xuzhou District network.

Everything is drawn from one `random.Random(seed)`, so the same seed gives the same
district; rows go in with `bulk_create` and one shared password hash, so the
district of 405 teams and thousands of volunteers builds in seconds and scales to
a million teams for benchmarks.
"""

import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.utils import timezone

from records.models import Signatory
from requests_app.models import Category, Citizen, ServiceItem
from volunteers.models import Membership, Team, Volunteer

from .choices import DispatchMode, Level, OrderState, Priority, Role
from .models import Order, StaffProfile, TeamCell, Transition, Unit

DEMO_PASSWORD = "demo-pass-2026"
DISTRICT_TEAMS = 405
CENTER = (28.70, 104.50)
CITIZEN_PHONE = "13800000000"
DISPATCHER_PHONE = "13900000000"
MEDIA_PHONE = "13600000000"


def leader_phone(k: int) -> str:
    return f"137{k:08d}"


INSTITUTES = [
    "柏溪",
    "南岸",
    "赵场",
    "高场",
    "观音",
    "樟海",
    "蕨溪",
    "商州",
    "安边",
    "泥溪",
    "双龙",
    "横江",
    "凤仪",
    "合什",
    "柳嘉",
    "龙池",
    "喜捷",
    "宗场",
    "复龙",
    "白花",
]
VILLAGE_A = "金银石马龙凤青红白黄桂桃李梅竹松柏清新安和平兴隆永福长乐"
VILLAGE_B = "山水河溪湾坝岭坪林田桥沟塘岩湖口"
SURNAMES = (
    "王李张刘陈杨黄赵周吴徐孙马胡朱郭何罗高林郑梁谢宋唐许邓韩冯曹彭曾萧田董潘袁蔡蒋余于杜叶程"
    "魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺顾毛郝龚邵万钱严洪赖武"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文辉鹏飞云海燕春梅志军晓东亮"

CATALOGUE = [
    ("theory", "理论宣讲", "Theory lectures", "📣", 1.5, ["党史宣讲", "政策解读", "村村响广播"]),
    ("elderly", "助老助残", "Elderly and disabled care", "🧓", 2, ["上门探访", "代购代办", "上门理发", "陪同就医"]),
    ("health", "医疗健身", "Health and fitness", "🩺", 2, ["义诊", "健康讲座", "广场健身指导"]),
    ("legal", "法律服务", "Legal aid", "⚖️", 1.5, ["法律咨询", "纠纷调解", "普法讲座"]),
    ("culture", "文化文艺", "Culture and arts", "🎭", 3, ["文艺演出", "书法春联", "电影放映"]),
    ("environment", "生态环保", "Environment", "🌳", 3, ["河道清洁", "垃圾分类宣传", "植树护绿"]),
    ("science", "科学普及", "Science outreach", "🔬", 2, ["农技指导", "防诈骗宣传", "科普讲座"]),
    ("everyday", "便民服务", "Everyday help", "🧰", 1.5, ["家电维修", "代写书信", "手机使用教学"]),
    ("education", "助学支教", "Tutoring and education", "📚", 2, ["课业辅导", "留守儿童陪伴", "暑期课堂"]),
    ("emergency", "应急救援", "Emergency relief", "🚑", 4, ["防汛抢险", "应急救护培训", "消防演练"]),
]


@dataclass
class SeedReport:
    units: int
    teams: int
    volunteers: int
    orders: int


def jitter(rng: random.Random, lat: float, lng: float, km: float) -> tuple[float, float]:
    """A random point within `km` of (lat, lng), uniform over the disk (bench/matching.py draws orders so too)."""
    r = km * math.sqrt(rng.random())
    theta = rng.random() * 2 * math.pi
    dlat = r * math.cos(theta) / 111.32
    dlng = r * math.sin(theta) / (111.32 * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lng + dlng, 6)


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def seed_menu() -> list[Category]:
    """The ten-heading service menu (服务菜单) with its sub-items."""
    categories = []
    for n, (code, name, name_en, icon, hours, items) in enumerate(CATALOGUE):
        category = Category.objects.create(
            code=code,
            name=name,
            name_en=name_en,
            icon=icon,
            sort_order=n,
            default_duration_hours=Decimal(str(hours)),
            description=f"{name}志愿服务",
        )
        ServiceItem.objects.bulk_create(
            ServiceItem(category=category, name=item, default_duration_hours=Decimal(str(hours))) for item in items
        )
        categories.append(category)
    return categories


def is_seeded() -> bool:
    return Unit.objects.filter(code="XZ").exists()


def _batched(rows: Iterable, size: int) -> Iterator[list]:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def demo_id_number(rng: random.Random) -> str:
    """A made-up resident ID of 叙州区 (511504) with a valid GB 11643 check character."""
    body = f"511504{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(body))
    return body + "10X98765432"[total % 11]


def seed(
    *,
    seed: int = 2021,
    teams: int = DISTRICT_TEAMS,
    orders: int = 60,
    progress: Callable[[str, int], None] | None = None,
) -> SeedReport:
    """Build the district. Callers check `is_seeded()` first: seeding twice is refused, not doubled."""
    rng = random.Random(seed)
    tick = progress or (lambda stage, n: None)
    password = make_password(DEMO_PASSWORD)
    now = timezone.now().replace(minute=0, second=0, microsecond=0)

    with transaction.atomic():
        groups = {r: Group.objects.get_or_create(name=r)[0] for r in Role.values}
        if not User.objects.filter(username="admin").exists():
            User.objects.create(username="admin", password=password, is_staff=True, is_superuser=True)

        center = Unit.objects.create(
            name="叙州区新时代文明实践中心",
            code="XZ",
            level=Level.CENTER,
            lat=CENTER[0],
            lng=CENTER[1],
            jurisdiction_km=60,
            address="宜宾市叙州区",
        )
        Signatory.objects.create(unit=center, head="陈志远", handler="刘晓梅", phone="0831-7621000")
        institutes, stations = [], []
        for i, town in enumerate(INSTITUTES, start=1):
            lat, lng = jitter(rng, *CENTER, 30)
            institutes.append(
                Unit.objects.create(
                    name=f"{town}镇新时代文明实践所",
                    code=f"XZ{i:02d}",
                    level=Level.INSTITUTE,
                    parent=center,
                    lat=lat,
                    lng=lng,
                    jurisdiction_km=15,
                    address=f"叙州区{town}镇",
                    # The last town shows auto-dispatch: its new orders go out by themselves.
                    auto_dispatch=DispatchMode.BROADCAST if i == len(INSTITUTES) else "",
                )
            )
        for inst_no, inst in enumerate(institutes, start=1):
            for j in range(1, 21):
                lat, lng = jitter(rng, inst.lat, inst.lng, 6)
                village = rng.choice(VILLAGE_A) + rng.choice(VILLAGE_B)
                stations.append(
                    Unit(
                        name=f"{inst.name[:2]}{village}村新时代文明实践站",
                        code=f"XZ{inst_no:02d}{j:02d}",
                        level=Level.STATION,
                        parent=inst,
                        lat=lat,
                        lng=lng,
                        jurisdiction_km=5,
                        path=f"{center.pk}/{inst.pk}/",
                        address=f"叙州区{inst.name[:2]}镇{village}村",
                    )
                )
        stations = Unit.objects.bulk_create(stations)
        # bulk_create skips save(): finish each station's path from its new id.
        for s in stations:
            s.path = f"{s.path}{s.pk}/"
        Unit.objects.bulk_update(stations, ["path"])
        tick("units", 1 + len(institutes) + len(stations))

        categories = seed_menu()

        staff = [
            (DISPATCHER_PHONE, "中心调度员", center, Role.DISPATCHER),
            (MEDIA_PHONE, "融媒体编辑", center, Role.MEDIA_EDITOR),
            *[
                (f"139{i:08d}", f"{inst.name[:2]}所调度员", inst, Role.DISPATCHER)
                for i, inst in enumerate(institutes, 1)
            ],
        ]
        for phone, name, unit, role in staff:
            # Staff also work in the Django admin, with their role's permissions.
            user = User.objects.create(username=phone, password=password, first_name=name, is_staff=True)
            user.groups.add(groups[role])
            StaffProfile.objects.create(user=user, unit=unit, phone=phone)

        citizen_users = User.objects.bulk_create(
            User(username=CITIZEN_PHONE if i == 0 else f"138{i:08d}", password=password, first_name=_name(rng))
            for i in range(200)
        )
        groups[Role.CITIZEN].user_set.add(*citizen_users)
        citizens = Citizen.objects.bulk_create(
            Citizen(user=u, name=u.first_name, phone=u.username, station=rng.choice(stations)) for u in citizen_users
        )
        tick("people", len(staff) + len(citizens))

        team_count = _seed_teams(rng, teams, stations, categories, password, groups[Role.VOLUNTEER], tick)
        volunteers = Volunteer.objects.count()
        # Orders draw from their own stream, so the district is the same whatever their number.
        order_count = _seed_orders(random.Random(f"{seed}-orders"), orders, stations, categories, citizens, now, tick)
    _reset_sequences()
    return SeedReport(
        units=1 + len(institutes) + len(stations), teams=team_count, volunteers=volunteers, orders=order_count
    )


def _seed_teams(district_rng, count, stations, categories, password, volunteer_group, tick) -> int:
    # Teams past the district draw from their own stream: the district is the same whatever --teams is.
    scale_rng = random.Random(f"{district_rng.random()}-scale")
    cat_ids = [c.pk for c in categories]
    emergency = next(c.pk for c in categories if c.code == "emergency")
    made = 0
    vol_no = 0
    for batch_start in range(0, count, 5000):
        batch = range(batch_start + 1, min(count, batch_start + 5000) + 1)
        team_rows, leaders = [], []
        for k in batch:
            station = stations[(k - 1) % len(stations)]
            in_district = k <= DISTRICT_TEAMS
            rng = district_rng if in_district else scale_rng
            if in_district:
                lat, lng = jitter(rng, station.lat, station.lng, 2)
            else:
                # Teams past the district's 405 spread over a province-sized area for benchmarks.
                lat, lng = round(rng.uniform(26.0, 32.5), 6), round(rng.uniform(100.0, 108.5), 6)
            round_the_clock = rng.random() < 0.1
            team_rows.append(
                Team(
                    id=k,
                    name=f"{station.name.replace('新时代文明实践站', '')}志愿服务队{k}",
                    unit=station,
                    home_lat=lat,
                    home_lng=lng,
                    radius_km=rng.choice((3, 5, 8, 10, 15)),
                    capacity=rng.choice((1, 2, 2, 3, 4)),
                    available_from="00:00" if round_the_clock else "08:00",
                    available_to="23:59" if round_the_clock else rng.choice(("18:00", "20:00", "21:00")),
                    available_weekdays="1234567" if round_the_clock or rng.random() < 0.7 else "123456",
                )
            )
            if in_district:
                leaders.append(User(username=leader_phone(k), password=password, first_name=_name(rng)))
        Team.objects.bulk_create(team_rows)
        through = Team.categories.through
        links = []
        for t in team_rows:
            rng = district_rng if t.id <= DISTRICT_TEAMS else scale_rng
            served = rng.sample(cat_ids, rng.choice((1, 2, 2, 3)))
            if t.available_from.__str__() == "00:00" and emergency not in served:
                served.append(emergency)
            links += [through(team_id=t.id, category_id=c) for c in served]
        through.objects.bulk_create(links, batch_size=10000)
        # The matching index, written here rather than re-read: a million teams seed in minutes, not hours.
        by_id = {t.id: t for t in team_rows}
        TeamCell.objects.bulk_create(
            (TeamCell.of(by_id[link.team_id], link.category_id) for link in links), batch_size=10000
        )
        if leaders:
            leaders = User.objects.bulk_create(leaders)
            by_phone = {u.username: u for u in leaders}
            members, memberships, member_users = [], [], []
            for t in team_rows:
                if t.id > DISTRICT_TEAMS:
                    continue
                leader = by_phone[leader_phone(t.id)]
                t.leader = leader
                vol_no += 1
                members.append(
                    Volunteer(
                        user=leader,
                        real_name=leader.first_name,
                        phone=leader.username,
                        number=f"XZV{vol_no:07d}",
                        skills="组织协调",
                    )
                )
                memberships.append((len(members) - 1, t.id, Membership.Role.LEADER))
                for _ in range(district_rng.randint(4, 11)):
                    vol_no += 1
                    u = User(username=f"135{vol_no:08d}", password=password, first_name=_name(district_rng))
                    member_users.append(u)
                    members.append(
                        Volunteer(user=u, real_name=u.first_name, phone=u.username, number=f"XZV{vol_no:07d}")
                    )
                    memberships.append((len(members) - 1, t.id, Membership.Role.MEMBER))
            Team.objects.bulk_update([t for t in team_rows if t.leader_id], ["leader"])
            User.objects.bulk_create(member_users, batch_size=5000)
            ids = random.Random(f"{seed}-id-numbers")  # its own draws: the district stays as it was
            for v in members:
                v.user_id = v.user.pk
                v.id_number = demo_id_number(ids)
            members = Volunteer.objects.bulk_create(members, batch_size=5000)
            Membership.objects.bulk_create(
                (Membership(volunteer=members[i], team_id=tid, role=role) for i, tid, role in memberships),
                batch_size=5000,
            )
            volunteer_group.user_set.add(*[v.user_id for v in members])
        made += len(team_rows)
        tick("teams", len(team_rows))
    return made


def _seed_orders(rng, count, stations, categories, citizens, now, tick) -> int:
    """Open orders to act on, in the queue of every level of the network."""
    made = 0
    for batch in _batched(range(count), 10000):
        rows = []
        for _ in batch:
            citizen = rng.choice(citizens)
            station = citizen.station if rng.random() < 0.8 else rng.choice(stations)
            lat, lng = jitter(rng, station.lat, station.lng, 2)
            # Citizens ask for daytime help, in the coming week.
            local = timezone.localtime(now) + timedelta(days=rng.randint(0, 6))
            start = local.replace(hour=rng.randint(8, 17))
            if start < now + timedelta(hours=2):
                start += timedelta(days=1)
            cat = rng.choice(categories)
            rows.append(
                Order(
                    category=cat,
                    description=f"需要{cat.name}服务,请志愿者联系。",
                    station=station,
                    lat=lat,
                    lng=lng,
                    address=f"{station.address}{rng.randint(1, 99)}组{rng.randint(1, 40)}号",
                    window_start=start,
                    window_end=start + timedelta(hours=rng.choice((2, 3, 4))),
                    contact_name=citizen.name,
                    contact_phone=citizen.phone,
                    citizen=citizen,
                    placed_by_id=citizen.user_id,
                    priority=Priority.URGENT if rng.random() < 0.1 else Priority.NORMAL,
                    created_at=now - timedelta(minutes=rng.randint(1, 600)),
                )
            )
        rows = Order.objects.bulk_create(rows)
        Transition.objects.bulk_create(
            Transition(
                order=o,
                action="place",
                from_state="",
                to_state=OrderState.SUBMITTED,
                by_id=o.placed_by_id,
                at=o.created_at,
            )
            for o in rows
        )
        made += len(rows)
        tick("orders", len(rows))
    return made


def _reset_sequences() -> None:
    """Teams were inserted with explicit ids (team k has id k); move PostgreSQL's sequence past them."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('volunteers_team', 'id'), "
            "GREATEST((SELECT MAX(id) FROM volunteers_team), 1))"
        )
