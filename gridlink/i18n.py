"""The one translation system: `Domain` (a catalog of texts in every locale, looked up and
formatted one way), the chat's domain (`CHAT`: every text the bot and notify send) and the one
language negotiator (`negotiate`) every surface uses (chat, desk, pages, Open311). The web
pages' domain is `api.desk.i18n.WEB`, built with the same class.

Shared by `bot/` and `notify/` (notify does not import the bot), so it imports no telegram.
Structured catalogs rather than gettext: two languages, keys checked for parity by tests.
"""

from __future__ import annotations

from collections.abc import Mapping

LOCALES = ("zh-CN", "en")
FALLBACK = "zh-CN"

ZH: dict[str, str] = {
    # identity
    "start.citizen": "您好！这里是大联动服务号。\n发送 /report 反映诉求，发送流水号（如 A20261127-00042）查询进度，/help 查看全部说明。",
    "start.bound": "绑定成功：{role}，{unit}。\n/help 查看您能做什么。",
    "invite.unknown": "邀请链接无效。请向管理员索取新的邀请。",
    "invite.expired": "邀请链接已过期。请向管理员索取新的邀请。",
    "invite.used": "邀请链接已被使用过。请向管理员索取新的邀请。",
    "role.coordinator": "巡管员",
    "role.leader": "责任块负责人",
    "role.station_head": "工作站站长",
    "role.dispatcher": "联动中心受理员",
    "role.department": "条线部门",
    "role.department_head": "条线部门负责人",
    "role.citizen": "市民",
    # general
    "help.citizen": (
        "怎么用：\n"
        "• /report 反映问题（咨询、投诉、求助、建议），可附照片和位置；\n"
        "• 发送流水号，或 /status 流水号，查看办理进度；\n"
        "• 办结后我们会请您评价：直接回复那条消息 1–5 分（5 满意，1 差），或点星星按钮；\n"
        "• /cancel 随时取消正在填写的内容。"
    ),
    "help.coordinator": (
        "巡管员怎么用：\n"
        "• 直接发送隐患照片（可多张，以文件发送可带定位）；\n"
        "• 没有定位时点“发送位置”按钮；\n"
        "• 选择类别，补充说明（可跳过），确认后得到流水号；\n"
        "• /onspot 当场处置：先发处置前照片，再发处置后照片，直接结案；\n"
        "• /cancel 随时取消。"
    ),
    "help.handler": (
        "怎么办理派单：\n"
        "• 派单消息下有按钮：接单、退回（说明理由）、申请延期（说明时长和理由）、办结（发结果照片和说明）；\n"
        "• /mine 查看手上未办结的案件及颜色（绿 已办结，蓝 办理中，黄 即将到期，红 超时）；\n"
        "• /cancel 取消正在填写的内容。"
    ),
    "cancel.done": "已取消。",
    "cancel.nothing": "当前没有正在进行的操作。",
    "conv.expired": "您上次未完成的操作已超时作废，请重新开始。",
    "error.generic": "抱歉，出了点问题，请稍后再试。",
    "error.input": "无法处理：{reason}",
    "error.forbidden": "您无权进行此操作。",
    "error.grid_not_loaded": "网格数据尚未加载，请稍后再试。",
    "error.case_not_found": "没有找到该案件。",
    "error.wrong_state": "该案件当前的状态不允许这样操作。",
    "error.photo_rejected": "这不是可用的照片。",
    "error.photo_empty": "文件是空的。",
    "error.photo_too_large": "照片太大（最多 20 MB）。",
    "error.photo_unsupported_type": "只接受 JPEG、PNG、WebP 或 HEIC 照片。",
    "error.photo_type_mismatch": "文件内容与其类型不符。",
    "error.photo_too_many_pixels": "照片像素太多。",
    "error.photo_too_many_frames": "不接受动图。",
    "error.photo_corrupt": "照片已损坏，无法读取。",
    "rating.already": "该案件已经评价过了，谢谢。",
    "fallback.hint": "没看懂。发送 /help 查看说明。",
    "btn.cancel": "取消",
    "btn.skip": "跳过",
    "btn.confirm": "确认提交",
    # coordinator report
    "report.photo_added": "已收到 {count} 张照片。可继续发照片，或发送位置。",
    "report.ask_location": "请发送隐患位置（点下方按钮发送当前位置）。",
    "report.too_many_photos": "一份报告最多 {max} 张照片，这张未收录。",
    "report.location_button": "发送当前位置",
    "report.outside": "该位置不在本区网格范围内，请重新发送位置。",
    "report.bad_location": "位置无效，请重新发送。",
    "report.placed": "已定位：社区网格 {community}／街面 {street}。",
    "report.choose_category": "请选择类别：",
    "report.no_street_block": "无",
    "report.ask_note": "请补充文字说明（或点“跳过”）。",
    "report.confirm": "请确认：\n类别：{category}\n位置：{place}\n照片：{photos} 张\n说明：{note}",
    "report.created": "已受理，流水号 {serial}。",
    "report.need_photo": "请先发送隐患照片。",
    "report.photo_rejected": "照片无法使用：{reason}",
    "report.onspot_before": "当场处置：请发送处置前的照片。",
    "report.onspot_after": "请发送处置后的照片。",
    "report.onspot_closed": "已记录当场处置并结案，流水号 {serial}。",
    "report.coordinators_only": "只有巡管员可以上报隐患。市民请使用 /report。",
    # handler actions
    "btn.accept": "接单",
    "btn.return": "退回",
    "btn.extend": "申请延期",
    "btn.done": "办结",
    "action.accepted": "已接单：{serial}。",
    "action.ask_return_reason": "请说明退回理由（{serial}）：",
    "action.returned": "已退回：{serial}。",
    "action.ask_extension_hours": "需要延期多少小时？（{serial}，发送数字）",
    "action.bad_hours": "请发送 1 到 720 之间的整数小时数。",
    "action.ask_extension_reason": "请说明延期理由：",
    "action.extension_requested": "延期申请已提交：{serial}，等待中心审批。",
    "action.ask_result_photo": "请发送处置结果照片（{serial}）：",
    "action.ask_result_note": "请简要说明处置结果：",
    "action.done": "已反馈办结：{serial}，等待中心核查。",
    "action.stale": "该案件已有变化：{serial} 当前状态为「{state}」。",
    "action.not_yours": "您无权办理该案件。",
    "mine.none": "您没有未办结的案件。",
    "trends.caption": "本单位近7天案件趋势（按类别，虚线为上周）。更多：{url}",
    "trends.staff_only": "趋势图仅供网格人员和指挥中心查看。",
    "mine.header": "未办结案件：",
    "mine.item": "{dot} {serial} {category} — {state}{deadline}",
    "mine.deadline": "，期限 {deadline}",
    "colour.green": "🟢",
    "colour.blue": "🔵",
    "colour.yellow": "🟡",
    "colour.red": "🔴",
    "state.reported": "已受理",
    "state.dispatched": "已派遣",
    "state.in_progress": "处置中",
    "state.awaiting_verification": "待核查",
    "state.returned": "已退回",
    "state.closed": "已结案",
    "state.merged": "已合并",
    # citizen
    "citizen.choose_kind": "请选择诉求类型：",
    "kind.consultation": "咨询",
    "kind.complaint": "投诉",
    "kind.help": "求助",
    "kind.suggestion": "建议",
    "kind.hazard": "隐患",
    "citizen.ask_text": "请用文字描述您的诉求：",
    "citizen.ask_extras": "可以再发照片或位置，完成后点“确认提交”。",
    "citizen.extra_added": "已收到。还可以继续发，或点“确认提交”。",
    "citizen.created": "已受理，流水号 {serial}。发送该流水号即可查询进度。",
    "ratelimit.chat": "您短时间内反映的诉求较多，我们正在逐一办理。请约 {minutes} 分钟后再提交新的诉求；查询进度请直接发送流水号。",
    "status.not_found": "没有找到流水号 {serial} 的案件。",
    "status.view": "流水号 {serial}\n状态：{state}\n办理单位：{unit}\n{timeline}",
    "status.unit_none": "待分派",
    "rating.ask": "您反映的问题（{serial}）已办结。请评价：直接回复本消息 1–5（5 满意，4 较满意，3 一般，2 较差，1 差），或点下方星星。",
    "rating.thanks": "谢谢您的评价：{label}。",
    "rating.hint": "请回复 1 到 5 之间的数字（5 满意，1 差）。",
    "rating.5": "满意",
    "rating.4": "较满意",
    "rating.3": "一般",
    "rating.2": "较差",
    "rating.1": "差",
    # Notifications the worker pushes (notify/render.py).
    "notify.assigned": "【新派单】{serial}\n类别：{category}\n地点：{place}\n内容：{description}\n办理时限：{deadline}",
    "notify.reminder": "【即将到期】{serial} 将于 {deadline} 到期，请尽快办理。",
    "notify.red": "【已超时·红色预警】{serial} 已于 {deadline} 超过办理时限，请立即办理。",
    "notify.escalation": "【超时督办】{unit} 的 {serial}（{category}）已于 {deadline} 超时未办结，请督促处理。",
    "notify.returned": "【退单】{serial} 被 {unit} 退回：{reason}\n请重新派单。",
    "notify.extension_requested": "【延期申请】{unit} 申请 {serial} 延期：{reason}\n当前时限：{deadline}",
    "notify.extension_approved": "【延期已批准】{serial} 新的办理时限：{deadline}",
    "notify.extension_refused": "【延期未批准】{serial} 办理时限仍为 {deadline}。{reason}",
    "notify.feedback_center": "【待核查】{unit} 已反馈 {serial}：{result}\n请回访核查。",
    "notify.feedback_reporter": "您反映的问题 {serial} 已处理完毕，正在核查。",
    "notify.reopened": "【返工督办】{serial} 核查未通过，已重新交办：{reason}\n办理时限：{deadline}",
    "notify.supervised": "【督办】{serial} 被督办：{reason}\n办理时限：{deadline}",
    "notify.rate_request": "您反映的问题 {serial} 已办结。请对处理结果评价：直接回复本消息 1–5（5 满意，4 较满意，3 一般，2 较差，1 差），或点下方按钮。",
    "notify.merged": "您反映的问题已并入案件 {main_serial} 一并办理，可用该流水号查询进度。",
    "notify.undeliverable": "【消息无法送达】{name}（{unit}）的会话不可用（{reason}），以下消息请另行通知：\n{text}",
    "notify.digest": "【每日简报】{unit} {date}\n未办结 {open} 件：红 {red}，黄 {yellow}，蓝 {blue}\n昨日以来新超时 {turned_red} 件。",
    "notify.none": "无",
    # --- chat journeys (issue 17): handlers, reporters, coordinators ---
    "btn.approve": "批准延期",
    "btn.refuse": "不批准",
    "btn.fixed_yes": "已解决",
    "btn.fixed_no": "还没有",
    "btn.more": "更多…",
    "action.accepted_first": "已先为您接单：{serial}。",
    "action.ask_extension_days": "需要延期几个工作日？（{serial}，发送数字）",
    "action.bad_days": "请发送 1 到 60 之间的整数工作日数。",
    "action.ask_refuse_reason": "请说明不批准延期的理由（{serial}）：",
    "action.extension_approved": "已批准延期：{serial}。",
    "action.extension_refused": "已不批准延期：{serial}。",
    "action.result_photo_added": "已收到 {count} 张结果照片。可继续发照片，或直接输入处置说明。",
    "action.result_confirm": "请确认办结 {serial}：\n结果照片：{photos} 张\n说明：{note}",
    "fixed.ask_comment": "谢谢！还有什么想说的吗？（直接回复，或点“跳过”）",
    "fixed.ask_what": "抱歉还没解决。请说说哪里还有问题（或点“跳过”），我们会督促重新处理。",
    "fixed.thanks_yes": "谢谢您的确认，{serial} 将由中心办结。",
    "fixed.thanks_no": "已收到，{serial} 已督办重新处理，处理后会再告诉您。",
    "reporter.current": "流水号 {serial} 当前状态：{state}。",
    "rating.ask_comment": "还想补充几句评价吗？直接回复即可（或点“跳过”）。",
    "rating.comment_thanks": "谢谢，您的意见已记录。",
    "mine.header_count": "未办结案件 {count} 件（显示最急的 {shown} 件）：",
    "language.choose": "请选择语言 / Choose your language:",
    "language.set": "好的，以后用中文与您联系。",
    "notify.assignment": "【新派单】{dot} {serial}\n类别：{category}\n地点：{place}\n内容：{description}\n办理时限：{deadline}",
    # joint cases (联勤联动, cases.joint)
    "notify.part_assignment": "【联勤联动·协办】{dot} {serial}\n主办单位：{unit}\n类别：{category}\n地点：{place}\n内容：{description}\n本单位办理时限：{deadline}",
    "notify.waiting_parts": "【等待协办】{dot} {serial} 主办单位 {unit} 已反馈，仍在等待：{units}",
    "notify.part_feedback_center": "【协办反馈】{unit} 已反馈 {serial} 的协办任务：{result}\n仍在等待：{units}",
    "notify.part_returned": "【协办退回】{serial} 的协办任务被 {unit} 退回：{reason}\n仍在等待：{units}",
    "notify.reporter_dispatched": "您反映的问题 {serial} 已派给 {unit} 办理，时限 {deadline}。",
    "notify.reporter_returned": "您反映的问题 {serial} 正在重新安排办理单位，请耐心等待。",
    "notify.reporter_extended": "您反映的问题 {serial} 办理时限已延长至 {deadline}。",
    "notify.reporter_reopened": "您反映的问题 {serial} 已要求重新处理，时限 {deadline}。",
    "notify.fixed_question": "您反映的问题 {serial} 已处理：{result}\n问题解决了吗？",
    "notify.closed_result": "您反映的问题 {serial} 已办结。处理结果：{result}\n请评价：直接回复本消息 1–5 或 满意／较满意／一般／较差／差（可附几句话），或点下方星星。也可在网站 /portal 用评价码 {code} 评价。",
    "notify.low_rating": "【差评】{serial} 收到评价「{label}」：{comment}",
    "notify.digest_low_ratings": "自上次简报以来收到差评 {n} 件，请回访。",
    "report.more_categories": "更多类别（第 {page} 页）：",
    "report.photo_old": "这张照片拍摄于 {age}前——现场还是这样吗？",
    "age.days": "{n} 天",
    "age.hours": "{n} 小时",
    "btn.still_there": "还在",
    "btn.gone_now": "已经没了",
    "report.photo_gone": "好的，本次不上报。现场有新问题时请重新拍照发送。",
    "report.duplicate_nearby": "附近已有同类问题在办：\n{cases}\n是同一个问题吗？",
    "report.duplicate_item": "{serial}（{distance} 米，{state}）",
    "btn.add_to": "把我的照片加到 {serial}",
    "btn.report_new": "不是，新报一件",
    "report.added_to": "已把您的照片加到 {serial}，它的进展会告诉您。",
    "language.name": "中文",
    "rating.words.5": "满意|非常满意",
    "rating.words.4": "较满意|比较满意",
    "rating.words.3": "一般",
    "rating.words.2": "较差|比较差",
    "rating.words.1": "差|不满意",
}

EN: dict[str, str] = {
    # identity
    "start.citizen": "Hello! This is the linkage service bot.\nSend /report to raise a matter, send a serial number (e.g. A20261127-00042) to track it, /help for everything.",
    "start.bound": "You are registered as {role}, {unit}.\n/help shows what you can do.",
    "invite.unknown": "This invite link is not valid. Ask your administrator for a new one.",
    "invite.expired": "This invite link has expired. Ask your administrator for a new one.",
    "invite.used": "This invite link has already been used. Ask your administrator for a new one.",
    "role.coordinator": "patrol coordinator",
    "role.leader": "block leader",
    "role.station_head": "workstation head",
    "role.dispatcher": "center dispatcher",
    "role.department": "line department",
    "role.department_head": "line department head",
    "role.citizen": "citizen",
    # general
    "help.citizen": (
        "How it works:\n"
        "• /report raises a matter (question, complaint, help request, suggestion), with photos and a location if you like;\n"
        "• send the serial number, or /status SERIAL, to see how it is going;\n"
        "• when it is done we ask for your rating: reply to that message with 1–5 (5 satisfied, 1 poor) or tap a star;\n"
        "• /cancel stops whatever you are filling in."
    ),
    "help.coordinator": (
        "For patrol coordinators:\n"
        "• send photos of the hazard (several are fine; send as a file to keep its GPS position);\n"
        "• without a position, tap the “Send location” button;\n"
        "• pick a category, add a note (or skip), confirm and get a serial number;\n"
        "• /onspot records a case handled on the spot: a before photo, then an after photo, and it is closed;\n"
        "• /cancel stops at any step."
    ),
    "help.handler": (
        "Working on assignments:\n"
        "• assignment messages have buttons: accept, return (give a reason), request extension (how long and why), done (send a result photo and a note);\n"
        "• /mine lists your open cases with their colour (green done, blue in progress, yellow due soon, red overdue);\n"
        "• /cancel stops whatever you are filling in."
    ),
    "cancel.done": "Cancelled.",
    "cancel.nothing": "Nothing is in progress.",
    "conv.expired": "What you started last time has expired. Please start again.",
    "error.generic": "Sorry, something went wrong. Please try again later.",
    "error.input": "Cannot do that: {reason}",
    "error.forbidden": "You may not do that.",
    "error.grid_not_loaded": "The grid is not loaded yet. Please try again later.",
    "error.case_not_found": "No such case.",
    "error.wrong_state": "The case's current state does not allow that.",
    "error.photo_rejected": "This is not a photo we can use.",
    "error.photo_empty": "The file is empty.",
    "error.photo_too_large": "The photo is too large (20 MB at most).",
    "error.photo_unsupported_type": "Only JPEG, PNG, WebP or HEIC photos are accepted.",
    "error.photo_type_mismatch": "The file's content does not match its type.",
    "error.photo_too_many_pixels": "The photo has too many pixels.",
    "error.photo_too_many_frames": "Animated images are not accepted.",
    "error.photo_corrupt": "The photo is damaged and cannot be read.",
    "rating.already": "This case has already been rated. Thank you.",
    "fallback.hint": "I did not understand. Send /help to see what I can do.",
    "btn.cancel": "Cancel",
    "btn.skip": "Skip",
    "btn.confirm": "Confirm",
    # coordinator report
    "report.photo_added": "Got {count} photo(s). Send more photos or the location.",
    "report.ask_location": "Please send the hazard's location (tap the button below to send where you are).",
    "report.too_many_photos": "A report holds at most {max} photos; this one was not added.",
    "report.location_button": "Send location",
    "report.outside": "That location is outside the district's grid. Please send the location again.",
    "report.bad_location": "That location is not valid. Please send it again.",
    "report.placed": "Placed: community block {community} / street block {street}.",
    "report.choose_category": "Pick a category:",
    "report.no_street_block": "none",
    "report.ask_note": "Add a note (or tap “Skip”).",
    "report.confirm": "Please confirm:\nCategory: {category}\nPlace: {place}\nPhotos: {photos}\nNote: {note}",
    "report.created": "Received. Serial number {serial}.",
    "report.need_photo": "Please send a photo of the hazard first.",
    "report.photo_rejected": "This photo cannot be used: {reason}",
    "report.onspot_before": "Handled on the spot: send the photo from before.",
    "report.onspot_after": "Now send the photo from after.",
    "report.onspot_closed": "Recorded as handled on the spot and closed. Serial number {serial}.",
    "report.coordinators_only": "Only patrol coordinators report hazards. Citizens please use /report.",
    # handler actions
    "btn.accept": "Accept",
    "btn.return": "Return",
    "btn.extend": "Request extension",
    "btn.done": "Done",
    "action.accepted": "Accepted: {serial}.",
    "action.ask_return_reason": "Why are you returning {serial}?",
    "action.returned": "Returned: {serial}.",
    "action.ask_extension_hours": "How many more hours do you need for {serial}? (send a number)",
    "action.bad_hours": "Please send a whole number of hours between 1 and 720.",
    "action.ask_extension_reason": "Why do you need the extension?",
    "action.extension_requested": "Extension requested for {serial}; the center will decide.",
    "action.ask_result_photo": "Send a photo of the result for {serial}:",
    "action.ask_result_note": "Briefly describe what was done:",
    "action.done": "Reported as done: {serial}. The center will verify it.",
    "action.stale": "This case has moved on: {serial} is now “{state}”.",
    "action.not_yours": "You may not act on this case.",
    "mine.none": "You have no open cases.",
    "trends.caption": "Your unit's last 7 days by category (dashed: the week before). More: {url}",
    "trends.staff_only": "Trend charts are for grid staff and the command centers.",
    "mine.header": "Open cases:",
    "mine.item": "{dot} {serial} {category} — {state}{deadline}",
    "mine.deadline": ", due {deadline}",
    "colour.green": "🟢",
    "colour.blue": "🔵",
    "colour.yellow": "🟡",
    "colour.red": "🔴",
    "state.reported": "received",
    "state.dispatched": "dispatched",
    "state.in_progress": "in progress",
    "state.awaiting_verification": "awaiting verification",
    "state.returned": "returned",
    "state.closed": "closed",
    "state.merged": "merged",
    # citizen
    "citizen.choose_kind": "What kind of matter is it?",
    "kind.consultation": "Question",
    "kind.complaint": "Complaint",
    "kind.help": "Help request",
    "kind.suggestion": "Suggestion",
    "kind.hazard": "Hazard",
    "citizen.ask_text": "Please describe it in words:",
    "citizen.ask_extras": "You may add photos or a location; tap “Confirm” when finished.",
    "citizen.extra_added": "Got it. Send more, or tap “Confirm”.",
    "citizen.created": "Received. Serial number {serial}. Send it to me any time to see how it is going.",
    "ratelimit.chat": "You have sent us many reports in a short time and we are working through them. Please wait about {minutes} min before sending a new one; to follow a case, just send its serial number.",
    "status.not_found": "No case with serial number {serial}.",
    "status.view": "Serial {serial}\nStatus: {state}\nHandled by: {unit}\n{timeline}",
    "status.unit_none": "not yet assigned",
    "rating.ask": "Your matter {serial} has been closed. How did we do? Reply to this message with 1–5 (5 satisfied, 4 fairly satisfied, 3 average, 2 poor, 1 very poor) or tap a star.",
    "rating.thanks": "Thank you for your rating: {label}.",
    "rating.hint": "Please reply with a number from 1 to 5 (5 satisfied, 1 very poor).",
    "rating.5": "satisfied",
    "rating.4": "fairly satisfied",
    "rating.3": "average",
    "rating.2": "poor",
    "rating.1": "very poor",
    # Notifications the worker pushes (notify/render.py).
    "notify.assigned": "[New assignment] {serial}\nCategory: {category}\nPlace: {place}\nDetails: {description}\nDue: {deadline}",
    "notify.reminder": "[Due soon] {serial} is due at {deadline}. Please handle it soon.",
    "notify.red": "[Overdue · red] {serial} passed its time limit at {deadline}. Please act now.",
    "notify.escalation": "[Overdue, escalated] {serial} ({category}) of {unit} has been overdue since {deadline}. Please follow it up.",
    "notify.returned": "[Returned] {serial} was returned by {unit}: {reason}\nPlease dispatch it again.",
    "notify.extension_requested": "[Extension requested] {unit} asks to extend {serial}: {reason}\nCurrent deadline: {deadline}",
    "notify.extension_approved": "[Extension approved] {serial} is now due at {deadline}.",
    "notify.extension_refused": "[Extension refused] {serial} is still due at {deadline}. {reason}",
    "notify.feedback_center": "[To verify] {unit} reported {serial} handled: {result}\nPlease call back and verify.",
    "notify.feedback_reporter": "Your report {serial} has been handled and is being verified.",
    "notify.reopened": "[Rework] {serial} failed verification and is back with you: {reason}\nDue: {deadline}",
    "notify.supervised": "[Supervision] {serial} is under supervision: {reason}\nDue: {deadline}",
    "notify.rate_request": "Your report {serial} has been closed. Please rate the result: reply to this message with 1–5 (5 satisfied … 1 very poor) or press a button below.",
    "notify.merged": "Your report was merged into case {main_serial}; track it with that serial number.",
    "notify.undeliverable": "[Undeliverable] The chat of {name} ({unit}) is unavailable ({reason}); please pass this on another way:\n{text}",
    "notify.digest": "[Daily digest] {unit} {date}\nOpen: {open} — red {red}, yellow {yellow}, blue {blue}\nTurned red since yesterday: {turned_red}.",
    "notify.none": "none",
    # --- chat journeys (issue 17): handlers, reporters, coordinators ---
    "btn.approve": "Approve extension",
    "btn.refuse": "Refuse",
    "btn.fixed_yes": "Yes, fixed",
    "btn.fixed_no": "Not yet",
    "btn.more": "More…",
    "action.accepted_first": "Accepted {serial} for you first.",
    "action.ask_extension_days": "How many more working days do you need for {serial}? (send a number)",
    "action.bad_days": "Please send a whole number of working days between 1 and 60.",
    "action.ask_refuse_reason": "Why is the extension of {serial} refused?",
    "action.extension_approved": "Extension approved: {serial}.",
    "action.extension_refused": "Extension refused: {serial}.",
    "action.result_photo_added": "Got {count} result photo(s). Send more, or type what was done.",
    "action.result_confirm": "Confirm {serial} as done:\nResult photos: {photos}\nNote: {note}",
    "fixed.ask_comment": "Thank you! Anything you would like to add? (reply, or tap “Skip”)",
    "fixed.ask_what": "Sorry it is not fixed yet. Tell us what is still wrong (or tap “Skip”); it goes back for rework.",
    "fixed.thanks_yes": "Thank you for confirming; the center will close {serial}.",
    "fixed.thanks_no": "Noted: {serial} is back for rework under supervision; we will tell you when it is handled.",
    "reporter.current": "{serial} is now: {state}.",
    "rating.ask_comment": "Would you like to add a few words? Just reply (or tap “Skip”).",
    "rating.comment_thanks": "Thank you, your comment is recorded.",
    "mine.header_count": "Open cases: {count} (the {shown} most urgent below):",
    "language.choose": "请选择语言 / Choose your language:",
    "language.set": "OK, we will write to you in English.",
    "notify.assignment": "[New assignment] {dot} {serial}\nCategory: {category}\nPlace: {place}\nDetails: {description}\nDue: {deadline}",
    # joint cases (联勤联动, cases.joint)
    "notify.part_assignment": "[Joint case: assisting] {dot} {serial}\nLead unit: {unit}\nCategory: {category}\nPlace: {place}\nDetails: {description}\nYour unit's deadline: {deadline}",
    "notify.waiting_parts": "[Waiting for assisting units] {dot} {serial}: the lead unit {unit} has reported; waiting for: {units}",
    "notify.part_feedback_center": "[Assisting unit reported] {unit} reported its part of {serial}: {result}\nStill waiting for: {units}",
    "notify.part_returned": "[Assisting part returned] {unit} returned its part of {serial}: {reason}\nStill waiting for: {units}",
    "notify.reporter_dispatched": "Your report {serial} has been assigned to {unit}, due {deadline}.",
    "notify.reporter_returned": "Your report {serial} is being reassigned to the right office; thank you for your patience.",
    "notify.reporter_extended": "The deadline of your report {serial} was extended to {deadline}.",
    "notify.reporter_reopened": "Your report {serial} was sent back for more work, due {deadline}.",
    "notify.fixed_question": "Your report {serial} has been handled: {result}\nIs it fixed?",
    "notify.closed_result": "Your report {serial} has been closed. Result: {result}\nPlease rate it: reply to this message with 1–5 or satisfied / fairly satisfied / neutral / fairly dissatisfied / dissatisfied (a comment may follow), or tap a star. You can also rate at /portal with the code {code}.",
    "notify.low_rating": "[Low rating] {serial} was rated “{label}”: {comment}",
    "notify.digest_low_ratings": "Rated 1–2 since the last digest: {n} — please call back.",
    "report.more_categories": "More categories (page {page}):",
    "report.photo_old": "This photo was taken {age} ago — is it still there?",
    "age.days": "{n} days",
    "age.hours": "{n} hours",
    "btn.still_there": "Still there",
    "btn.gone_now": "Gone now",
    "report.photo_gone": "OK, nothing is reported. Send a fresh photo when there is something new.",
    "report.duplicate_nearby": "Already reported nearby:\n{cases}\nIs it the same?",
    "report.duplicate_item": "{serial} ({distance} m, {state})",
    "btn.add_to": "Add my photo to {serial}",
    "btn.report_new": "No, report a new one",
    "report.added_to": "Your photo was added to {serial}; you will hear how it goes.",
    "language.name": "English",
    "rating.words.5": "satisfied|very satisfied",
    "rating.words.4": "fairly satisfied",
    "rating.words.3": "neutral|average|ok",
    "rating.words.2": "fairly dissatisfied|poor",
    "rating.words.1": "dissatisfied|very poor",
}

CATALOG: dict[str, dict[str, str]] = {"zh-CN": ZH, "en": EN}


class Domain:
    """A catalog of texts by locale (like a gettext domain). A key missing or empty in the asked
    locale falls back to the fallback locale's text, then to any other: never to the key."""

    def __init__(self, by_locale: Mapping[str, Mapping[str, str]]) -> None:
        self.by_locale = by_locale  # held, not copied: later `update` blocks of a catalog count

    @classmethod
    def of_pairs(cls, pairs: Mapping[str, tuple[str, str]]) -> Domain:
        """A domain from `key: (zh-CN, en)` pairs, the form translators edit side by side."""
        return cls({"zh-CN": {k: zh for k, (zh, _) in pairs.items()},
                    "en": {k: en for k, (_, en) in pairs.items()}})

    def __contains__(self, key: object) -> bool:
        return any(key in texts for texts in self.by_locale.values())

    def t(self, key: str, locale: str | None = None, /, **kw: object) -> str:
        """The text for `key` in `locale` (the fallback when unknown), formatted with `kw`."""
        texts = self.by_locale.get(locale or FALLBACK) or self.by_locale[FALLBACK]
        template = texts.get(key) or self.by_locale[FALLBACK].get(key)
        if not template:
            found = [c[key] for c in self.by_locale.values() if c.get(key)]
            if not found:
                raise KeyError(key)
            template = found[0]
        return template.format(**kw) if kw else template


CHAT = Domain(CATALOG)

# ---- issue 18: provisional deadlines, step reminders and escalations, the calendar warning
ZH.update({
    "notify.provisional": "（暂定：{year}年节假日安排尚未公布）",
    "notify.deadline_changed": "【时限调整】{serial} 的办理时限由 {previous} 调整为 {deadline}。",
    "notify.remind.dispatch": "【待派遣即将超时】{serial}（{category}）应于 {deadline} 前派遣。",
    "notify.escalate.dispatch": "【派遣超时】{serial}（{category}）已于 {deadline} 超过派遣时限，尚未派遣。",
    "notify.remind.redispatch": "【退单待重派即将超时】{serial}（{category}）应于 {deadline} 前重新派遣。",
    "notify.escalate.redispatch": "【重派超时】{serial}（{category}）被退回后已于 {deadline} 超时未重新派遣。",
    "notify.remind.verification": "【待核查即将超时】{serial}（{category}）应于 {deadline} 前核查结案。",
    "notify.escalate.verification": "【核查超时】{serial}（{category}）已于 {deadline} 超时未核查。",
    "notify.remind.extension": "【延期待审批】{unit} 申请 {serial} 延期，请于 {deadline} 前审批。",
    "notify.escalate.extension": "【延期审批超时】{unit} 的 {serial} 延期申请已于 {deadline} 超时未审批。",
    "notify.calendar_missing": "⚠ {year}年的节假日和调休安排尚未录入：跨年的办理时限均为暂定，请管理员在工作台“节假日”页录入。",
})
EN.update({
    "notify.provisional": " (provisional: {year} holidays not yet published)",
    "notify.deadline_changed": "[Deadline changed] {serial} is now due at {deadline} (was {previous}).",
    "notify.remind.dispatch": "[Dispatch due soon] {serial} ({category}) must be dispatched by {deadline}.",
    "notify.escalate.dispatch": "[Dispatch overdue] {serial} ({category}) has waited for dispatch since {deadline}.",
    "notify.remind.redispatch": "[Re-dispatch due soon] returned {serial} ({category}) must be dispatched again by {deadline}.",
    "notify.escalate.redispatch": "[Re-dispatch overdue] returned {serial} ({category}) has not been dispatched again since {deadline}.",
    "notify.remind.verification": "[Verification due soon] {serial} ({category}) must be verified by {deadline}.",
    "notify.escalate.verification": "[Verification overdue] {serial} ({category}) has waited for verification since {deadline}.",
    "notify.remind.extension": "[Extension decision due] {unit} asks to extend {serial}; please decide by {deadline}.",
    "notify.escalate.extension": "[Extension decision overdue] the extension request of {unit} for {serial} has waited since {deadline}.",
    "notify.calendar_missing": "⚠ The {year} holidays and adjusted workdays are not entered: deadlines reaching into {year} are provisional. An admin enters them on the desk's Calendar page.",
})

# ---- issue 22: moderation — a chat user blocked from reporting (told once, then refused briefly)
ZH.update({
    "block.told": "您好。因“{reason}”，您暂时不能通过本服务号提交新的诉求，至 {until} 止。查询已有案件的进度请直接发送流水号；如遇紧急情况请拨打 110 或 12345。",
    "block.refused": "抱歉，您暂时不能提交新的诉求（至 {until} 止）。查询进度请直接发送流水号。",
})
EN.update({
    "block.told": "Hello. Because of \"{reason}\", you cannot send new reports through this service until {until}. To follow an existing case, just send its serial number; in an emergency call 110 or 12345.",
    "block.refused": "Sorry, you cannot send new reports until {until}. To follow a case, just send its serial number.",
})


def _locale_of_tag(tag: str) -> str | None:
    """The catalog locale a language tag names (`zh`, `zh-hans`, `zh_TW`, `en-US`, …), else None."""
    primary = tag.strip().lower().replace("_", "-").split("-")[0]
    return {"zh": "zh-CN", "en": "en"}.get(primary)


def negotiate(*, chosen: str | None = None, accept: str | None = None, default: str = FALLBACK) -> str:
    """THE language negotiator of every surface (desk, pages, Open311, API errors, bot, notify).

    `chosen`: an explicit choice (the `locale`/`lang` parameter, the locale cookie, the desk
    account's or chat user's /language setting) wins when it names a language we speak.
    `accept`: an `Accept-Language` header (RFC 9110 §12.5.4) — or Telegram's single
    `language_code`, which is one such tag. Each locale gets the highest q of the ranges naming
    its language (`zh-TW` counts for zh-CN: the nearest we have); `*` gives its q to the
    locales no range names; q=0 excludes; ties go to the range listed first, then `default`.
    Nothing usable: `default` (itself normalised; unknown → zh-CN)."""
    fallback = _locale_of_tag(default or "") or FALLBACK
    if chosen and (picked := _locale_of_tag(chosen)):
        return picked
    named: dict[str, tuple[float, int]] = {}
    star: tuple[float, int] | None = None
    for i, part in enumerate((accept or "").split(",")):
        tag, _, params = part.partition(";")
        tag = tag.strip()
        if not tag:
            continue
        q = 1.0
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k.strip().lower() == "q":
                try:
                    q = float(v.strip())
                except ValueError:
                    q = 0.0
                if not 0 <= q <= 1:  # not a qvalue: ignore the range
                    q = 0.0
        if tag == "*":
            star = star or (q, i)
            continue
        locale = _locale_of_tag(tag)
        if locale is not None:
            prev = named.get(locale)
            named[locale] = (max(q, prev[0]), prev[1]) if prev else (q, i)
    ranked: dict[str, tuple[float, int]] = dict(named)
    if star is not None:
        for locale in LOCALES:
            ranked.setdefault(locale, star)
    best = [(q, -i, locale == fallback, locale) for locale, (q, i) in ranked.items() if q > 0]
    return max(best)[3] if best else fallback


def locale_for(language_code: str | None, default: str = FALLBACK) -> str:
    """Telegram's `language_code` (`zh-hans`, `en-US`, …) or a stored locale → a catalog
    locale, through the one negotiator."""
    return negotiate(accept=language_code, default=default)


def has(key: str) -> bool:
    return key in CATALOG[FALLBACK]


def t(key: str, locale: str | None = None, /, **kw: object) -> str:
    """A chat text: `CHAT.t`."""
    return CHAT.t(key, locale, **kw)

# ---- issue 22: the center's toolset (not accepted / void, suspend, direct answer)
ZH.update({
    "state.suspended": "挂账",
    "state.refused": "不予立案",
    "state.voided": "已作废",
    "notify.reporter_refused": "您反映的问题 {serial}（{category}）经联动中心审核不予立案，原因：{reason}。感谢您的关心与支持，如有新的情况欢迎再次反映。",
    "notify.reporter_voided": "您反映的问题 {serial}（{category}）已作废，原因：{reason}。感谢您的关心与支持，如有新的情况欢迎再次反映。",
    "notify.voided": "【案件作废】{serial}（{category}）已由联动中心作废（{reason}），无需继续办理。",
    "notify.reporter_suspended": "您反映的问题 {serial} 暂时无法解决，已挂账，将于 {review} 重新研究办理。感谢您的耐心。",
    "notify.suspended": "【案件挂账】{serial}（{category}）已挂账至 {review}：{reason}。期间暂停计时。",
    "notify.resumed": "【挂账到期】{serial}（{category}）已恢复办理，时限 {deadline}。",
    "notify.answered": "您咨询的问题 {serial} 答复如下：\n{result}\n请评价：直接回复本消息 1–5 或 满意／较满意／一般／较差／差（可附几句话），或点下方星星。也可在网站 /portal 用评价码 {code} 评价。",
})
EN.update({
    "state.suspended": "suspended",
    "state.refused": "not accepted",
    "state.voided": "voided",
    "notify.reporter_refused": "Thank you for your report {serial} ({category}). After review the center cannot take it up as a case: {reason}. If anything changes, please report again.",
    "notify.reporter_voided": "Your report {serial} ({category}) was closed without action: {reason}. Thank you; if anything changes, please report again.",
    "notify.voided": "[Voided] {serial} ({category}) was voided by the center ({reason}); no further work is needed.",
    "notify.reporter_suspended": "Your report {serial} cannot be solved right now; it is on hold and will be taken up again on {review}. Thank you for your patience.",
    "notify.suspended": "[On hold] {serial} ({category}) is suspended until {review}: {reason}. Its clock is stopped meanwhile.",
    "notify.resumed": "[Back from hold] {serial} ({category}) is active again, due {deadline}.",
    "notify.answered": "The answer to your question {serial}:\n{result}\nPlease rate it: reply to this message with 1–5 or satisfied / fairly satisfied / neutral / fairly dissatisfied / dissatisfied (a comment may follow), or tap a star. You can also rate at /portal with the code {code}.",
})

# ---- issue 22: automatic dispatch (cases.autodispatch) — the center took an automatic
# assignment back
ZH.update({
    "notify.taken_back": "【派单收回】{serial}（{category}）原由系统自动派给贵单位，现已被联动中心收回重新派遣，无需继续办理。",
})
EN.update({
    "notify.taken_back": "[Assignment withdrawn] {serial} ({category}) was assigned to you automatically; the center has taken it back to dispatch it again. No further work is needed.",
})

# ---- issue 23: a station head's blocks (/blocks)
ZH.update({
    "help.station_head": (
        "工作站站长可以：\n"
        "• /blocks 查看本站各责任块的在办案件（红、黄、蓝）及块长、巡管员；\n"
        "• /mine 查看派给本站的未办结案件，派单消息下有接单、退回、延期、办结按钮；\n"
        "• /trends 本站近7天案件趋势；/cancel 取消正在填写的内容。"
    ),
    "blocks.station_head_only": "/blocks 供工作站站长查看本站各责任块。",
    "blocks.header": "{station}：在办 {open} 件（🔴{red} 🟡{yellow} 🔵{blue}）",
    "blocks.item": "• {block}：🔴{red} 🟡{yellow} 🔵{blue}；块长 {leader}；巡管员 {coordinators}",
    "blocks.nobody": "未绑定",
    "blocks.none": "本站没有网格责任块。",
})
EN.update({
    "help.station_head": (
        "As a station head you can:\n"
        "• /blocks see your station's blocks: open cases (red, yellow, blue), the leader and coordinators;\n"
        "• /mine see open cases assigned to the station, with Accept, Return, Extend and Done buttons;\n"
        "• /trends your station's last 7 days; /cancel drop what you are filling in."
    ),
    "blocks.station_head_only": "/blocks shows a station head their station's blocks.",
    "blocks.header": "{station}: {open} open (🔴{red} 🟡{yellow} 🔵{blue})",
    "blocks.item": "• {block}: 🔴{red} 🟡{yellow} 🔵{blue}; leader {leader}; coordinators {coordinators}",
    "blocks.nobody": "nobody bound",
    "blocks.none": "This station has no blocks.",
})
