"""`/trends` in the bot (real PTB against the Bot API sandbox): a leader gets a PNG of their
unit's week, in their language; a citizen gets a refusal, no chart."""

from __future__ import annotations

from gridlink.i18n import t
from tests.bot.conftest import BLOCK_ONE, BotWorld, sandbox, world  # noqa: F401 (fixtures)
from tests.bot.test_flows import bind


async def test_trends_answers_a_png_of_the_users_unit(world: BotWorld) -> None:  # noqa: F811
    leader = await world.phone("组长", language_code="en")
    await bind(world, leader, "leader", BLOCK_ONE)
    await leader.send("/trends")
    reply = await leader.reply(wait_s=20)
    assert reply.get("photo"), reply  # a picture, not text
    assert reply["caption"].startswith("Your unit's last 7 days")
    citizen = await world.phone("市民")
    await citizen.send("/trends")
    refused = await citizen.reply()
    assert refused["text"] == t("trends.staff_only", "zh-CN") and not refused.get("photo")
