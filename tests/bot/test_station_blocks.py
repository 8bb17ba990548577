"""/blocks (issue 23): a chat station head sees their station's blocks — open cases by colour,
the leader and coordinators bound — through real PTB against the Bot API sandbox; anyone else
is told it is a station head's command."""

from __future__ import annotations

from cases.intake import intake
from cases.model import Actor, CasePolicy
from gridlink.i18n import t
from tests.bot.conftest import BLOCK_ONE, BLOCK_TWO, BotWorld
from tests.bot.test_flows import bind
from tests.desk.test_station import folded

STATION = "310101001001"
PLACEMENT = {"community_block": BLOCK_ONE, "workstation": STATION, "street": "310101001",
             "district": "310101", "snapped": False, "distance_m": 0.0}


async def test_a_station_head_lists_their_blocks_in_chat(world: BotWorld) -> None:
    head, leader, coordinator = (await world.phone("刘敏"), await world.phone("李芳"),
                                 await world.phone("Wang", language_code="en"))
    await bind(world, head, "station_head", STATION)
    await bind(world, leader, "leader", BLOCK_ONE)
    await bind(world, coordinator, "coordinator", BLOCK_TWO)
    for text in ("Pothole", "Broken lamp"):
        await intake(world.db, policy=CasePolicy(district="310101"), now=world.clock.now(),
                     channel="hotline_12345", kind="complaint", category="road_damage",
                     description=text, actor=Actor(role="dispatcher", unit="310101", name="Center"),
                     reporter={"phone": "13800138000"}, location={"lon": 121.405, "lat": 31.205},
                     placement=PLACEMENT)
    await folded(world.db, world.clock)

    await head.send("/blocks")
    text = (await head.reply())["text"]
    lines = text.split("\n")
    assert lines[0] == t("blocks.header", "zh-CN", station="一工作站", open=2, red=0, yellow=0, blue=2)
    assert t("blocks.item", "zh-CN", block="一号责任块", red=0, yellow=0, blue=2, leader="李芳",
             coordinators="未绑定") in lines
    assert t("blocks.item", "zh-CN", block="二号责任块", red=0, yellow=0, blue=0, leader="未绑定",
             coordinators="Wang") in lines

    await head.send("/help")
    assert (await head.reply())["text"] == t("help.station_head", "zh-CN")

    await coordinator.send("/blocks")
    assert (await coordinator.reply())["text"] == t("blocks.station_head_only", "en")
