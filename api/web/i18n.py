"""The pages' words in Simplified Chinese (default) and English.

Every visible string of the web pages comes from ``MESSAGES`` through a ``Translator``; a
key holds its Chinese and English text side by side, so neither language can miss one.
Placeholders use ``str.format`` names (``t("devices.summary", n=3, online=2)``); literal
braces are doubled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

ZH: Final = "zh-CN"
EN: Final = "en"
LANGS: Final = (ZH, EN)
DEFAULT_LANG: Final = ZH
LANG_COOKIE: Final = "farmtel_lang"

MESSAGES: Mapping[str, tuple[str, str]] = {
    # -- punctuation (full-width in Chinese) --
    "p.colon": ("：", ": "),
    "p.semicolon": ("；", "; "),
    "p.list": ("、", ", "),
    "p.open": ("（", " ("),
    "p.close": ("）", ")"),
    # -- frame --
    "app.name": ("farmtel 农业物联网", "farmtel farm telemetry"),
    "app.skip": ("跳到主要内容", "Skip to main content"),
    "app.lang_switch": ("English", "中文"),
    "app.lang_switch_label": ("Switch to English", "切换到中文"),
    "app.signed_in_as": ("已登录：{name}（{role}）", "Signed in as {name} ({role})"),
    "app.sign_out": ("退出登录", "Sign out"),
    "app.footer": ("时间均为北京时间（UTC+8）。", "Times are China Standard Time (UTC+8)."),
    "nav.label": ("主导航", "Main navigation"),
    "nav.overview": ("总览", "Overview"),
    "nav.alerts": ("告警", "Alerts"),
    "nav.sites": ("地块与设施", "Sites"),
    "nav.devices": ("设备", "Devices"),
    "nav.indicators": ("规划指标", "Plan indicators"),
    "role.admin": ("管理员", "administrator"),
    "role.agronomist": ("农技人员", "agronomist"),
    "role.bureau": ("农业农村局", "agriculture bureau"),
    # -- sign-in --
    "login.title": ("登录", "Sign in"),
    "login.intro": ("请输入管理员发放的访问令牌。", "Enter the access token your administrator gave you."),
    "login.token": ("访问令牌", "Access token"),
    "login.submit": ("登录", "Sign in"),
    "login.invalid": ("令牌无效或已被吊销。", "That token is invalid or revoked."),
    "login.signed_out": ("您已退出登录。", "You have signed out."),
    # -- errors --
    "error.title": ("出错了", "Something went wrong"),
    "error.403": ("您的账号无权查看此页面。", "Your account may not see this page."),
    "error.404": ("找不到该页面或对象。", "No such page or object."),
    "error.409": ("操作与当前状态冲突：{detail}", "That conflicts with the current state: {detail}"),
    "error.422": ("输入有误：{detail}", "Invalid input: {detail}"),
    "error.503": ("数据存储暂时不可用，请稍后再试。",
                  "The data store is unavailable at the moment; please try again shortly."),
    "error.csrf": ("表单已过期，请重新提交。", "The form has expired; please submit it again."),
    "error.other": ("请求失败（{code}）。", "The request failed ({code})."),
    "error.back": ("返回总览", "Back to the overview"),
    # -- common words --
    "common.county": ("县（市、区）", "County"),
    "common.farm": ("农场", "Farm"),
    "common.site": ("地块/设施", "Site"),
    "common.device": ("设备", "Device"),
    "common.all": ("全部", "All"),
    "common.filter": ("筛选", "Filter"),
    "common.reset": ("清除筛选", "Clear filters"),
    "common.none": ("—", "—"),
    "common.yes": ("是", "yes"),
    "common.no": ("否", "no"),
    "common.city": ("全市", "City-wide"),
    "common.showing": ("显示 {n} 条", "Showing {n}"),
    "common.showing_first": ("仅显示最新 {n} 条，请缩小筛选范围。",
                             "Only the newest {n} are shown; narrow the filters."),
    "common.kind": ("类型", "Kind"),
    "common.name": ("名称", "Name"),
    "common.updated": ("更新时间", "Updated"),
    "common.download_csv": ("下载 CSV", "Download CSV"),
    "common.data_table": ("数据摘要（表格）", "Data summary (table)"),
    "common.series": ("数据系列", "Series"),
    "common.latest": ("最新值", "Latest"),
    "common.min": ("最小", "Min"),
    "common.max": ("最大", "Max"),
    "common.mean": ("平均", "Mean"),
    "common.points": ("点数", "Points"),
    "common.no_data": ("该时段没有数据。", "No data in this period."),
    "common.unit": ("单位", "Unit"),
    "common.time": ("时间", "Time"),
    # -- severities and states --
    "severity.critical": ("严重", "Critical"),
    "severity.warning": ("警告", "Warning"),
    "severity.info": ("提示", "Info"),
    "severity.label": ("级别", "Severity"),
    "state.label": ("状态", "State"),
    "state.active": ("未解决（待处理+已确认）", "Unresolved (open + acknowledged)"),
    "state.open": ("待处理", "Open"),
    "state.acknowledged": ("已确认", "Acknowledged"),
    "state.resolved": ("已解决", "Resolved"),
    # -- overview --
    "overview.title": ("总览", "Overview"),
    "overview.devices": ("设备数", "Devices"),
    "overview.online": ("在线", "Online"),
    "overview.online_share": ("在线率", "Online share"),
    "overview.open_alerts": ("未解决告警", "Unresolved alerts"),
    "overview.counties": ("各县（市、区）概况", "Counties"),
    "overview.plan_group": ("规划分类", "Plan group"),
    "overview.total": ("合计", "Total"),
    "overview.live": ("最新告警（实时更新）", "Newest alerts (live)"),
    "overview.live_status_on": ("实时更新已连接", "Live updates connected"),
    "overview.live_status_off": ("实时更新已断开，正在重连…", "Live updates lost; reconnecting…"),
    "overview.no_alerts": ("暂无告警。", "No alerts."),
    "overview.all_alerts": ("查看全部告警", "All alerts"),
    "overview.scope_note": ("仅显示您负责范围内的农场。", "Only the farms in your scope are shown."),
    "overview.bureau_note": ("农业农村局视图：仅显示县级汇总数据。",
                             "Bureau view: county-level aggregates only."),
    # -- alerts --
    "alerts.title": ("告警", "Alerts"),
    "alerts.alert": ("告警", "Alert"),
    "alerts.opened": ("发生时间", "Opened"),
    "alerts.value": ("数值", "Value"),
    "alerts.threshold": ("阈值", "Threshold"),
    "alerts.rule": ("规则", "Rule"),
    "alerts.subject": ("对象", "Subject"),
    "alerts.none": ("没有符合条件的告警。", "No alerts match."),
    "alerts.trail": ("处理记录", "Audit trail"),
    "alerts.trail_at": ("时间", "When"),
    "alerts.trail_change": ("状态变化", "Change"),
    "alerts.trail_actor": ("操作人", "By"),
    "alerts.trail_note": ("备注", "Note"),
    "alerts.sysnote.out_of_season": ("作物不在田（未播种或已收获），系统自动解除",
                                     "No crop in the field (not sown or harvested): resolved "
                                     "by the system"),
    "alerts.created": ("（新建）", "(created)"),
    "alerts.system": ("系统", "system"),
    "alerts.note": ("备注（可选）", "Note (optional)"),
    "alerts.acknowledge": ("确认告警", "Acknowledge"),
    "alerts.resolve": ("标记为已解决", "Resolve"),
    "alerts.done_acknowledged": ("告警已确认。", "Alert acknowledged."),
    "alerts.done_resolved": ("告警已解决。", "Alert resolved."),
    "alerts.acknowledged_by": ("确认人", "Acknowledged by"),
    "alerts.resolved_by": ("解决人", "Resolved by"),
    "alerts.back": ("返回告警列表", "Back to the alerts"),
    "alerts.actions": ("处理", "Actions"),
    "alerts.view_site": ("查看地块/设施数据", "See the site's data"),
    "alerts.view_animal": ("查看该牲畜", "See the animal"),
    # -- sites --
    "sites.title": ("地块与设施", "Sites"),
    "sites.none": ("没有符合条件的地块或设施。", "No sites match."),
    "sites.crop": ("作物/畜种", "Crop / species"),
    "sites.size": ("面积/存栏", "Area / head"),
    "sites.devices": ("设备", "Devices"),
    "sites.open_alerts": ("未解决告警", "Unresolved alerts"),
    "kind.field": ("大田地块", "Field"),
    "kind.greenhouse": ("温室", "Greenhouse"),
    "kind.barn": ("畜舍", "Barn"),
    "kind.water_source": ("水源", "Water source"),
    "unit.mu": ("{n} 亩", "{n} mu"),
    "unit.head": ("{n} 头", "{n} head"),
    "range.label": ("时间范围", "Time range"),
    "range.1d": ("1 天", "1 day"),
    "range.7d": ("7 天", "7 days"),
    "range.30d": ("30 天", "30 days"),
    "range.90d": ("90 天", "90 days"),
    "range.end": ("截止日期", "Ending on"),
    "range.show": ("显示", "Show"),
    "range.shown": ("{start} 至 {end}，每 {every} 汇总一点", "{start} to {end}, one point per {every}"),
    "range.newest": ("最新数据：{ts}", "Newest data: {ts}"),
    "range.jump": ("跳到最新数据", "Go to the newest data"),
    "range.no_data": ("尚未收到数据。", "No data received yet."),
    "every.min": ("{n} 分钟", "{n} min"),
    "every.h": ("{n} 小时", "{n} h"),
    "every.d": ("{n} 天", "{n} d"),
    "site.open_alerts": ("该处未解决告警", "Unresolved alerts here"),
    "site.no_open_alerts": ("该处没有未解决告警。", "No unresolved alerts here."),
    "site.info": ("基本信息", "About"),
    "site.planted": ("播种日期", "Planted"),
    "site.station": ("气象站", "Weather station"),
    # field
    "field.vwc": ("土壤体积含水量（按深度）与降雨、灌溉", "Soil moisture by depth with rain and irrigation"),
    "field.depth": ("{n} 厘米", "{n} cm"),
    "field.rain": ("降雨", "Rain"),
    "field.irrigation": ("灌溉", "Irrigation"),
    "field.raw_line": ("易利用水（RAW）阈值：低于此值需灌溉", "RAW threshold: irrigate below this"),
    "field.raw_short": ("RAW 阈值", "RAW"),
    "field.balance": ("根区水量平衡（逐日）", "Root-zone water balance (daily)"),
    "field.depletion": ("根区亏缺 Dr", "Root-zone depletion Dr"),
    "field.observed": ("探头实测亏缺", "Depletion measured by probes"),
    "field.raw": ("易利用水量 RAW", "Readily available water RAW"),
    "field.taw": ("总有效水量 TAW", "Total available water TAW"),
    "field.et": ("参考蒸散 ET0 与作物蒸散 ETc（逐日）", "Reference ET0 and crop ETc (daily)"),
    "field.et0": ("ET0", "ET0"),
    "field.etc": ("ETc", "ETc"),
    "field.advice": ("当前灌溉建议", "Current irrigation advice"),
    "field.advice_none": ("尚未计算灌溉建议（每日作业生成）。",
                          "No irrigation advice yet (the daily job computes it)."),
    "field.irrigate_yes": ("需要灌溉", "Irrigate"),
    "field.irrigate_no": ("暂不需要灌溉", "No irrigation needed"),
    "field.advice_day": ("建议日期", "Advice for"),
    "field.net_depth": ("净灌水深度", "Net depth"),
    "field.volume": ("灌水量", "Volume"),
    "field.why": ("依据", "Why"),
    "field.no_balance": ("该时段没有水量平衡记录。", "No water balance in this period."),
    # greenhouse
    "gh.air_temp": ("气温", "Air temperature"),
    "gh.rh": ("相对湿度", "Relative humidity"),
    "gh.vpd": ("饱和水汽压差 VPD（由时段均值计算）", "Vapour pressure deficit VPD (from window means)"),
    "gh.co2": ("二氧化碳浓度", "CO₂ concentration"),
    "gh.vpd_low": ("VPD 下限（低于则结露、病害风险）", "VPD low limit (condensation, disease risk below)"),
    "gh.vpd_high": ("VPD 上限（高于则水分胁迫）", "VPD high limit (water stress above)"),
    "gh.vpd_low_short": ("下限", "low"),
    "gh.vpd_high_short": ("上限", "high"),
    "gh.node": ("节点 {id}", "Node {id}"),
    # barn
    "barn.thi": ("温湿指数 THI（由时段均值计算）", "Temperature-humidity index THI (from window means)"),
    "barn.nh3": ("氨气浓度", "Ammonia (NH₃)"),
    "barn.nh3_limit": ("氨气告警阈值", "NH₃ alert threshold"),
    "barn.nh3_short": ("告警阈值", "alert"),
    "barn.band_none": ("无热应激", "No stress"),
    "barn.band_mild": ("轻度", "Mild"),
    "barn.band_moderate": ("中度", "Moderate"),
    "barn.band_severe": ("重度", "Severe"),
    "barn.bands": ("THI 分级：", "THI bands:"),
    "barn.animals": ("牲畜（项圈）", "Animals (collars)"),
    "barn.sensor": ("传感器 {id}", "Sensor {id}"),
    "barn.no_animals": ("该畜舍没有项圈。", "No collars in this barn."),
    # animal
    "animal.title": ("牲畜 {tag}", "Animal {tag}"),
    "animal.tag": ("耳标号", "Ear tag"),
    "animal.collar": ("项圈", "Collar"),
    "animal.body_temp": ("体温", "Body temperature"),
    "animal.fever": ("发热阈值", "Fever threshold"),
    "animal.fever_short": ("发热", "fever"),
    "animal.activity": ("活动量指数", "Activity index"),
    "animal.rumination": ("反刍时间（近 24 小时）", "Rumination (last 24 h)"),
    "animal.barn": ("所在畜舍", "Barn"),
    "animal.no_alerts": ("这头牲畜没有告警记录。", "No alerts for this animal."),
    # water source
    "water.flow": ("流量", "Flow"),
    "water.volume": ("累计水量", "Cumulative volume"),
    # units and plan groups (registry and target-set values)
    "unit.万亩": ("万亩", "10k mu"),
    "plan.先行示范": ("先行示范", "leading demonstration"),
    "plan.整体推进": ("整体推进", "overall advancement"),
    "plan.重点帮扶": ("重点帮扶", "key assistance"),
    # crops and species (registry values; unknown ones are shown as stored)
    "crop.maize": ("玉米", "maize"),
    "crop.millet": ("谷子", "millet"),
    "crop.potato": ("马铃薯", "potato"),
    "crop.tomato": ("番茄", "tomato"),
    "crop.cucumber": ("黄瓜", "cucumber"),
    "crop.pepper": ("辣椒", "pepper"),
    "crop.wheat": ("小麦", "wheat"),
    "crop.oats": ("燕麦", "oats"),
    "crop.sorghum": ("高粱", "sorghum"),
    "crop.soybean": ("大豆", "soybean"),
    "species.dairy_cow": ("奶牛", "dairy cows"),
    "species.beef_cattle": ("肉牛", "beef cattle"),
    "species.sheep": ("羊", "sheep"),
    "species.pig": ("生猪", "pigs"),
    "species.poultry": ("家禽", "poultry"),
    # -- devices --
    "devices.title": ("设备", "Devices"),
    "devices.status": ("状态", "Status"),
    "devices.online": ("在线", "Online"),
    "devices.offline": ("离线", "Offline"),
    "devices.never": ("从未上报", "Never reported"),
    "devices.revoked": ("已吊销", "Revoked"),
    "devices.retired": ("已退役", "Retired"),
    "devices.last_seen": ("最后上报", "Last seen"),
    "devices.battery": ("电池电压", "Battery"),
    "devices.completeness": ("24 小时数据完整率", "Completeness (24 h)"),
    "devices.type": ("设备类型", "Type"),
    "devices.summary": ("{n} 台设备，{online} 台在线", "{n} devices, {online} online"),
    "devices.none": ("没有符合条件的设备。", "No devices match."),
    "devices.provision": ("登记新设备", "Provision a device"),
    "devices.id": ("设备编号", "Device id"),
    "devices.id_help": ("字母、数字和 . _ : -，例如 sm-farm1-01",
                        "Letters, digits and . _ : -, e.g. sm-farm1-01"),
    "devices.gateway": ("网关（可选）", "Gateway (optional)"),
    "devices.no_gateway": ("不经网关", "No gateway"),
    "devices.attributes": ("属性（JSON，可选）", "Attributes (JSON, optional)"),
    "devices.attributes_help": ("例如 {{\"depth_cm\": 40}}", "e.g. {{\"depth_cm\": 40}}"),
    "devices.submit": ("登记并生成凭据", "Provision and issue credentials"),
    "devices.created": ("设备已登记", "Device provisioned"),
    "devices.once": ("MQTT 密码只显示这一次，请立即妥善保存。服务器只保存其哈希值。",
                     "The MQTT password is shown this once: store it safely now. "
                     "The server keeps only its hash."),
    "devices.mqtt_username": ("MQTT 用户名", "MQTT username"),
    "devices.mqtt_password": ("MQTT 密码", "MQTT password"),
    "devices.topic": ("遥测主题", "Telemetry topic"),
    "devices.bad_json": ("属性必须是 JSON 对象。", "Attributes must be a JSON object."),
    "devices.import": ("批量导入", "Bulk import"),
    # -- bulk import (devices/import) --
    "import.title": ("批量导入农场、地块和设备", "Bulk import of farms, sites and devices"),
    "import.intro": ("上传 CSV 或 XLSX 文件：每类一个工作表（CSV 用 [farms]、[sites]、[devices] 分区行）。"
                     "先检查，列出每个有错的行；全部无误后再导入，要么全部登记，要么一条也不登记。",
                     "Upload a CSV or XLSX file with one sheet per kind (in CSV, section lines "
                     "[farms], [sites], [devices]). Check it first: every bad row is listed. "
                     "Import registers every row or none."),
    "import.file": ("导入文件", "Import file"),
    "import.file_help": ("CSV（UTF-8 或 GBK）或 XLSX，至多 {mib} MB。",
                         "CSV (UTF-8 or GBK) or XLSX, up to {mib} MB."),
    "import.format": ("凭据文件格式", "Credentials file format"),
    "import.once": ("导入成功后，新设备的 MQTT 凭据文件只下载这一次，请立即妥善保存；"
                    "服务器只保存密码哈希，无法再次下载。",
                    "After a successful import the new devices' MQTT credentials file downloads "
                    "once: keep it safe at once. The server keeps only password hashes and "
                    "cannot offer it again."),
    "import.check": ("检查（不写入）", "Check (writes nothing)"),
    "import.apply": ("导入并下载凭据", "Import and download credentials"),
    "import.no_file": ("请选择一个文件。", "Choose a file."),
    "import.report": ("检查结果", "Check report"),
    "import.bad": ("有 {n} 处错误，未写入任何数据。", "{n} problems; nothing was written."),
    "import.ok": ("文件无误，可以导入。", "The file is fine and can be imported."),
    "import.applied": ("已导入。", "Imported."),
    "import.counts": ("{rows} 行，可登记 {created} 条", "{rows} rows, {created} to register"),
    "import.kind.farms": ("农场", "Farms"),
    "import.kind.sites": ("地块与设施", "Sites"),
    "import.kind.devices": ("设备", "Devices"),
    "import.sheet": ("工作表", "Sheet"),
    "import.row": ("行号", "Row"),
    "import.column": ("列", "Column"),
    "import.value": ("内容", "Value"),
    "import.reason": ("原因", "Reason"),
    "import.columns": ("列说明", "Columns"),
    "import.columns_help": ("表头可用英文列名或任一别名；大小写、空格和全角括号不影响。",
                            "Headers may be the column name or any alias; case, spaces and "
                            "full-width brackets do not matter."),
    "import.aliases": ("别名", "Aliases"),
    "import.required": ("必填", "Required"),
    "import.yes": ("是", "yes"),
    "dtype.soil_moisture": ("墒情传感器", "Soil-moisture probe"),
    "dtype.greenhouse_climate": ("温室环境节点", "Greenhouse climate node"),
    "dtype.weather_station": ("气象站", "Weather station"),
    "dtype.livestock_collar": ("牲畜项圈", "Livestock collar"),
    "dtype.barn_climate": ("畜舍环境传感器", "Barn climate sensor"),
    "dtype.flow_meter": ("灌溉流量计", "Flow meter"),
    "dtype.gateway": ("网关", "Gateway"),
    # -- fleet: corrections, moves, retirement --
    "fleet.service": ("在用/退役", "In service / retired"),
    "fleet.in_service": ("在用", "In service"),
    "fleet.retired": ("已退役", "Retired"),
    "fleet.retired_since": ("已于 {at} 退役", "Retired since {at}"),
    "fleet.animal": ("牲畜", "animal"),
    "fleet.created": ("登记时间", "Registered"),
    "fleet.placements": ("安装位置记录", "Placements"),
    "fleet.placements_help": ("设备在每个地块/设施期间的数据归属该地块/设施，迁移后也不改变。",
                              "A device's readings belong to the site it stood on at the time, "
                              "also after a move."),
    "fleet.from": ("起", "From"),
    "fleet.until": ("止", "Until"),
    "fleet.now": ("至今", "now"),
    "fleet.edit": ("修改信息", "Correct details"),
    "fleet.edit_site": ("修改或退役", "Correct or retire"),
    "fleet.save": ("保存修改", "Save"),
    "fleet.move": ("迁移到其他地块/设施", "Move to another site"),
    "fleet.move_help": ("迁移时间不能早于设备最后一条已入库数据；迁到其他农场后设备的遥测主题随之改变。",
                        "A move cannot be dated before the device's newest stored reading; "
                        "moving to another farm changes the device's telemetry topic."),
    "fleet.to_site": ("迁入地块/设施", "New site"),
    "fleet.at": ("生效时间（北京时间，可选）", "Effective (China Standard Time, optional)"),
    "fleet.at_help": ("留空表示现在；不能晚于现在。", "Empty means now; it cannot lie in the future."),
    "fleet.move_submit": ("迁移设备", "Move the device"),
    "fleet.retire": ("退役", "Retire"),
    "fleet.retire_device_help": ("退役后设备不能再连接或上报，自退役时间起不再计入应报数据；历史数据保留。",
                                 "A retired device can no longer connect or publish and is no "
                                 "longer expected to report from then on; its history stays."),
    "fleet.retire_site_help": ("退役地块/设施时，其上的设备一并退役；历史数据保留。",
                               "Retiring a site retires its devices too; history stays."),
    "fleet.retire_submit": ("确认退役", "Retire"),
    "fleet.crop": ("作物", "Crop"),
    "fleet.species": ("畜种", "Species"),
    "fleet.area_mu": ("面积（亩）", "Area (mu)"),
    "fleet.head_count": ("存栏（头/只）", "Head count"),
    "fleet.planting_date": ("播种/定植日期", "Planting date"),
    "fleet.lat_deg": ("纬度（°）", "Latitude (°)"),
    "fleet.lon_deg": ("经度（°）", "Longitude (°)"),
    "fleet.elevation_m": ("海拔（米）", "Elevation (m)"),
    "fleet.site_attributes": ("属性（JSON）", "Attributes (JSON)"),
    # -- indicators --
    "ind.title": ("规划指标", "Plan indicators"),
    "ind.intro": ("对照《朔州市“十四五”农业农村现代化规划》目标，按 2020→2025 年直线进度评估。",
                  "Against the targets of Shuozhou's 14th five-year plan, on the straight line "
                  "from 2020 to 2025."),
    "ind.period": ("统计期", "Period"),
    "ind.month": ("月份", "Month"),
    "ind.last30": ("最近 30 天", "Last 30 days"),
    "ind.or_days": ("或按日期", "or by days"),
    "ind.first_day": ("起始日", "First day"),
    "ind.last_day": ("截止日", "Last day"),
    "ind.period_range": ("{start} 至 {end}", "{start} to {end}"),
    "ind.on_demand_city": ("临时快照（全市）", "On-demand snapshots (city)"),
    "ind.bar_legend": ("进度条：蓝色为已完成的进度，黑色竖线为按直线进度此时应达的位置。",
                       "Progress bar: blue is the progress made, the black mark is where the "
                       "straight path says it should be now."),
    "ind.measured_until": ("数据截至 {ts}", "Measured until {ts}"),
    "ind.target_set": ("目标版本 {v}", "Target set {v}"),
    "ind.city_table": ("全市指标", "City-wide indicators"),
    "ind.indicator": ("指标", "Indicator"),
    "ind.value": ("当前值", "Value"),
    "ind.baseline": ("2020 基期", "2020 baseline"),
    "ind.target": ("2025 目标", "2025 target"),
    "ind.expected": ("按进度应达", "Expected now"),
    "ind.progress": ("进度", "Progress"),
    "ind.status": ("评估", "Status"),
    "ind.bar_label": ("当前 {value}，应达 {expected}，目标 {target}",
                      "value {value}, expected {expected}, target {target}"),
    "ind.by_county": ("分县（市、区）：{name}", "By county: {name}"),
    "ind.history": ("历史走势与 2020→2025 目标路径：{name}", "History and the 2020→2025 path: {name}"),
    "ind.path": ("目标路径（全市）", "Target path (city)"),
    "ind.current": ("本期（全市）", "This period (city)"),
    "ind.no_history": ("还没有月度快照；每月 1 日自动生成，也可以立即生成一份。",
                       "No monthly snapshots yet: one is taken on the 1st of each month, or take "
                       "one now."),
    "ind.snapshots": ("快照", "Snapshots"),
    "ind.snapshot_kind": ("类型", "Kind"),
    "ind.snapshot_created": ("生成时间", "Taken"),
    "ind.snapshot_by": ("生成人", "By"),
    "ind.kind_monthly": ("月度", "monthly"),
    "ind.kind_on_demand": ("临时", "on demand"),
    "ind.take_snapshot": ("立即生成快照（本统计期）", "Take a snapshot of this period now"),
    "ind.snapshot_taken": ("已生成快照 #{id}。", "Snapshot #{id} taken."),
    "ind.no_snapshots": ("还没有快照。", "No snapshots yet."),
    "ind.not_computed": ("以下目标依靠上报、无法由传感器测得：{keys}",
                         "These targets are reported, not sensed: {keys}"),
    "ind.show_county": ("分县查看", "By county"),
    "ind.baseline_assumed": ("无公布基期，按 0 计", "no published baseline: 0 assumed"),
    "status.achieved": ("已达标", "Achieved"),
    "status.on_track": ("进度正常", "On track"),
    "status.behind": ("落后于进度", "Behind"),
    "status.no_data": ("无数据", "No data"),
    "status.no_target": ("无目标", "No target"),
}

ROLE_KEYS: Mapping[str, str] = {"admin": "role.admin", "agronomist": "role.agronomist",
                                "bureau": "role.bureau"}


def normalise_lang(value: str | None) -> str | None:
    """``zh-CN`` or ``en`` for an accepted spelling (``zh``, ``zh-cn``, ``en-US``...), else None."""
    if not value:
        return None
    v = value.strip().lower()
    if v.startswith("zh"):
        return ZH
    if v.startswith("en"):
        return EN
    return None


@dataclass(frozen=True, slots=True)
class Translator:
    """Looks up and formats messages in one language."""

    lang: str

    def __call__(self, key: str, /, **values: object) -> str:
        """The text of ``key`` in this language, formatted with ``values``; KeyError if unknown."""
        return MESSAGES[key][0 if self.lang == ZH else 1].format(**values)

    def pick(self, zh: str | None, en: str | None) -> str:
        """Data that carries both languages (county names, alert titles): this language's."""
        first, second = (zh, en) if self.lang == ZH else (en, zh)
        return first or second or ""

    def name_of(self, prefix: str, value: str | None) -> str:
        """A registry value (crop, species) in this language when known, else as stored."""
        if not value:
            return ""
        key = f"{prefix}.{value}"
        return self(key) if key in MESSAGES else value

    @property
    def other(self) -> str:
        """The language the switch leads to."""
        return EN if self.lang == ZH else ZH
