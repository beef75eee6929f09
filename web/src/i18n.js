// Chinese first, English beside it: every visible string goes through `t`. The choice is kept
// in localStorage (not a secret) and applied on the next render.

const ZH = {
  brand: "Trustmeter 可信能耗链",
  nav_public: "公开", nav_regulator: "监管", nav_enterprise: "企业", nav_screen: "大屏", nav_verify: "验证",
  close: "关闭", sign_in: "登录", sign_out: "退出", signed_in_as: "已登录",
  loading: "加载中…", error: "出错", none: "无", not_disclosed: "未公开", forbidden: "无权查看",
  height: "高度", epoch: "纪元", validators: "验证节点", finalized: "已最终确认", state_root: "状态根",
  genesis: "创世", genesis_pin: "信任此创世", genesis_pinned: "已固定的创世", genesis_unpinned: "未固定创世",
  genesis_mismatch: "节点的创世与您固定的不一致：不要相信它的数据。",
  genesis_intro: "浏览器内的验证以您信任的创世为准。请将下面的指纹与联盟公布的创世哈希逐位核对，再固定它；也可以导入联盟分发的创世文件。",
  genesis_import: "导入创世文件", fingerprint: "指纹",
  today: "今日", yesterday: "昨日", this_month: "本月", this_year: "本年", same_period_last_year: "去年同期",
  yoy: "同比", consumption: "用量", kgce_eq: "综合能耗（当量，kgce）", kgce_ev: "综合能耗（等价，kgce）", tce: "吨标准煤",
  by_energy: "分能源品种", trend: "日趋势", ranking: "企业排名", quality: "数据质量", alarms: "实时告警",
  drill: "下钻", region: "地区", enterprise: "企业", enterprises: "企业", site: "厂区", workshop: "车间", line: "产线", meter: "计量器具",
  meters: "计量器具", gateways: "网关", calibration: "检定", calibration_until: "检定有效期至", status: "状态", last_value: "最新读数",
  completeness: "完整率", timeliness: "及时率", accuracy: "准确率", composite: "综合指数", flags: "问题",
  carbon: "碳排放", quota: "配额", ytd: "年初至今", mtd: "月初至今", forecast: "年末预测", surplus: "盈余", verification: "核查",
  chain_health: "链运行", uptime: "在线率", proposed: "出块", missed: "缺席",
  load_curve: "负荷曲线（15 分钟平均功率）", tou: "分时电量与电费", tier: "时段", cost: "电费", energy_flow: "能流（按位置，kgce）",
  balance: "主表与分表平衡", reports: "报表下载", download_csv: "CSV", download_xlsx: "Excel", carbon_report: "碳排放报告",
  readings: "读数", time: "时间", value: "数值", unit: "单位", seq: "序号", origin: "来源", proof: "证明",
  verify: "验证", verifying: "验证中…", verified: "验证通过", verify_failed: "验证失败", step: "步骤", result: "结果", detail: "说明",
  passed: "通过", failed: "失败", not_reached: "未执行", verify_paste: "粘贴或选择一个证明文件（JSON），在本机浏览器内验证，不信任任何服务器。",
  verify_kind: "证明类型", verify_run: "验证", against_genesis: "对照创世",
  key_file: "账户密钥文件", passphrase: "口令（如已加密）", sign_in_intro: "用您的账户密钥登录：密钥只在本页的 WebAssembly 模块内存中使用，为每个请求签名（RFC 9421），也为企业在本页录入的班次数据签署交易；从不发送给服务器，刷新页面即需重新登录。",
  role_regulator: "监管机构", role_statistics_bureau: "统计局", role_enterprise: "重点用能单位", role_metrology_authority: "计量机构", role_verifier: "核查机构",
  public_intro: "按各地区的信息公开政策公开的数据；无需登录。", published_figures: "企业公开的能耗数据", published_intro: "企业自愿公开（公开承诺）的能耗数据，公开期内任何人可读；每个数字可在浏览器中验证。", none_published: "暂无企业公开数据", days: "天数", public_until: "公开至", regional_totals: "地区合计", published: "已公开", members: "联盟成员",
  token_supply: "通证供应", public_figures: "公开的企业数据",
  screen_title: "能耗与碳排放监测大屏", blocks_ticker: "最新区块", readings_per_block: "读数",
  quota_used: "配额使用", top_enterprises: "重点企业", structure: "能源结构", carbon_by_source: "排放结构",
  need_sign_in: "此页面需要登录。", only_regulators: "此页面供监管机构和统计局使用。",
  day: "日", month: "月", year: "年", total: "合计", share: "占比", name: "名称", kind: "种类", id: "编号", rank: "名次",
  drill_hint: "点击企业、位置或计量器具可下钻。", power_avg: "平均功率", energy_sum: "电量",
  no_data: "暂无数据", backlog: "积压",
  shifts: "班次、班组单耗", last_7_days: "近 7 日", by_shift: "按班次", by_team: "按班组", shift: "班次", team: "班组", output: "产量",
  best: "最优", worst: "最差", no_shift_calendar: "企业尚未设置班次日历（trustmeter tx shift-calendar）。",
  shift_entry: "录入班次数据（签名上链）", shift_output_title: "班次产量", shift_calendar_title: "班次日历（排班表）",
  products: "产品与产量", product: "产品", quantity: "数量", note: "备注", add_product: "＋ 添加产品", remove: "删除",
  team_by_rotation: "按轮班表", submit_tx: "签名并提交上链", tx_submitting: "正在签名、提交并等待区块确认…",
  tx_finalized: "已上链：区块 {height}，交易 {hash}（{ms} ms）", tx_refused: "链拒绝了该交易", tx_refused_block: "区块执行拒绝了该交易",
  tx_not_finalized: "已提交，但在等待时间内尚未确认",
  hint_output: "已开始的班次，最早可补录至 {from}（{days} 天内）；同一班次再次提交即更正（保留每个版本）。",
  hint_calendar: "新版本从生效日起适用，生效日须晚于最后一个已录入产量的日期（最多提前 {back} 天、向后 {ahead} 天）；结束时间早于或等于开始时间的班次跨零点、次日结束。",
  hint_calendar_current: "当前版本自 {from} 起生效，已预填。",
  effective_from: "生效日期", shifts_legend: "班次（最多 8 个，不得重叠）", start: "开始", end: "结束", crosses_midnight: "跨零点",
  next_day: "次日结束", add_shift: "＋ 添加班次", teams_input: "班组（用逗号分隔，最多 32 个）", rotation: "轮班（倒班）",
  rotation_start: "周期起始日", rotation_days: "周期天数", rotation_off: "不开班", cycle_day: "周期第几天", rotation_cell: "第 {day} 天 {shift}",
  err_quantity: "数量须为不小于 0 的数，最多 6 位小数", err_quantity_large: "数量过大", err_name_long: "{what}“{name}”超过 {max} 字节",
  err_name: "{what}“{name}”不能为空，不能含控制字符或首尾空格", err_effective_from: "请填写生效日期", err_shift_count: "班次须为 1 至 {max} 个",
  err_team_count: "班组最多 {max} 个", err_shift_time: "班次“{name}”须填写开始和结束时间", err_shift_24h: "班次“{name}”为 24 小时，只能是唯一的班次",
  err_twice: "“{name}”重复", err_overlap: "班次 {a} 与 {b} 重叠", err_rotation_start: "请填写轮班周期起始日",
  err_rotation_days: "轮班周期为 1 至 {max} 天", err_rotation_teams: "轮班需要班组", err_rotation_day: "轮班第 {day} 天的班组无效",
  err_day: "请填写日期", err_product_count: "产品须为 1 至 {max} 个", err_product_long: "产品名称和单位最多 {max} 字节",
  err_product: "产品“{name}”须有名称和单位", err_note: "备注最多 {max} 字节",
  warn_backdate: "早于 {from}：链只接受 {days} 天内的产量，将拒绝。", warn_no_shift: "{day} 生效的日历没有该班次（{shifts}）。",
  warn_not_started: "该班次尚未开始：链将拒绝。", warn_team: "班组“{team}”不在当日日历中。",
  warn_calendar_window: "生效日须在今天前 {back} 天至后 {ahead} 天之间：链将拒绝。", warn_calendar_before: "早于当前版本的生效日 {from}：链将拒绝。",
  warn_calendar_output: "{day} 已录入产量：新日历须在其后生效，链将拒绝。",
  balance_title: "总分表平衡", balance_master: "总表", balance_sub: "分表", balance_subs: "分表明细", balance_master_amount: "总表用量",
  balance_subs_sum: "分表合计", balance_difference: "差值", balance_loss: "损耗率（%）", balance_sub_count: "分表数",
  balance_negative: "分表合计大于总表", balance_above: "损耗率超过", balance_incomplete: "数据不完整", balance_limits: "报警上限",
  balance_none: "企业没有总表：登记计量器具时指定上级表（trustmeter tx register-meter --master）。",
};

const EN = {
  brand: "Trustmeter",
  nav_public: "Public", nav_regulator: "Regulator", nav_enterprise: "Enterprise", nav_screen: "Big screen", nav_verify: "Verify",
  close: "Close", sign_in: "Sign in", sign_out: "Sign out", signed_in_as: "Signed in",
  loading: "Loading…", error: "Error", none: "None", not_disclosed: "Not disclosed", forbidden: "Not allowed",
  height: "Height", epoch: "Epoch", validators: "Validators", finalized: "Finalized", state_root: "State root",
  genesis: "Genesis", genesis_pin: "Trust this genesis", genesis_pinned: "Pinned genesis", genesis_unpinned: "No genesis pinned",
  genesis_mismatch: "The node's genesis differs from the one you pinned: do not trust its data.",
  genesis_intro: "Verification in the browser is against a genesis you trust. Compare the fingerprint below with the genesis hash the consortium published, digit by digit, then pin it; or import the genesis file the consortium distributed.",
  genesis_import: "Import a genesis file", fingerprint: "Fingerprint",
  today: "Today", yesterday: "Yesterday", this_month: "This month", this_year: "This year", same_period_last_year: "Same period last year",
  yoy: "YoY", consumption: "Consumption", kgce_eq: "Comprehensive (equivalent, kgce)", kgce_ev: "Comprehensive (equal value, kgce)", tce: "tce",
  by_energy: "By energy kind", trend: "Daily trend", ranking: "Ranking", quality: "Data quality", alarms: "Live alarms",
  drill: "Drill down", region: "Region", enterprise: "Enterprise", enterprises: "Enterprises", site: "Site", workshop: "Workshop", line: "Line", meter: "Meter",
  meters: "Meters", gateways: "Gateways", calibration: "Calibration", calibration_until: "Calibrated until", status: "Status", last_value: "Last value",
  completeness: "Completeness", timeliness: "Timeliness", accuracy: "Accuracy", composite: "Composite", flags: "Issues",
  carbon: "Carbon", quota: "Quota", ytd: "Year to date", mtd: "Month to date", forecast: "Year-end forecast", surplus: "Surplus", verification: "Verification",
  chain_health: "Chain health", uptime: "Uptime", proposed: "Proposed", missed: "Missed",
  load_curve: "Load curve (15-minute average power)", tou: "Time of use: energy and cost", tier: "Tier", cost: "Cost", energy_flow: "Energy flow by location (kgce)",
  balance: "Master and sub-meter balance", reports: "Reports", download_csv: "CSV", download_xlsx: "Excel", carbon_report: "Carbon report",
  readings: "Readings", time: "Time", value: "Value", unit: "Unit", seq: "Seq", origin: "Origin", proof: "Proof",
  verify: "Verify", verifying: "Verifying…", verified: "Verified", verify_failed: "Verification failed", step: "Step", result: "Result", detail: "Detail",
  passed: "passed", failed: "failed", not_reached: "not reached", verify_paste: "Paste or choose a proof file (JSON) and verify it here, in your browser, trusting no server.",
  verify_kind: "Proof kind", verify_run: "Verify", against_genesis: "against genesis",
  key_file: "Account key file", passphrase: "Passphrase (if encrypted)", sign_in_intro: "Sign in with your account key: it is used only inside this page's WebAssembly module, to sign each request (RFC 9421) and the transactions of the shift data an enterprise enters here; it is never sent to the server, and a reload signs you out.",
  role_regulator: "Regulator", role_statistics_bureau: "Statistics bureau", role_enterprise: "Enterprise", role_metrology_authority: "Metrology authority", role_verifier: "Verifier",
  public_intro: "What each region's disclosure policy makes public; no sign-in.", published_figures: "Figures enterprises published", published_intro: "Energy figures enterprises chose to publish (公开承诺): anyone may read them until the date shown; each verifies in the browser.", none_published: "No enterprise has published its figures", days: "Days", public_until: "Public until", regional_totals: "Regional totals", published: "Published", members: "Consortium members",
  token_supply: "Token supply", public_figures: "Published enterprise figures",
  screen_title: "Energy and carbon monitoring", blocks_ticker: "Latest blocks", readings_per_block: "readings",
  quota_used: "Quota used", top_enterprises: "Top enterprises", structure: "Energy structure", carbon_by_source: "Emissions by source",
  need_sign_in: "This page needs a sign-in.", only_regulators: "This page is for regulators and statistics bureaus.",
  day: "Day", month: "Month", year: "Year", total: "Total", share: "Share", name: "Name", kind: "Kind", id: "Id", rank: "Rank",
  drill_hint: "Click an enterprise, a location or a meter to drill down.", power_avg: "Average power", energy_sum: "Energy",
  no_data: "No data yet", backlog: "Backlog",
  shifts: "Unit consumption by shift and team", last_7_days: "last 7 days", by_shift: "By shift", by_team: "By team", shift: "Shift", team: "Team", output: "Output",
  best: "Best", worst: "Worst", no_shift_calendar: "The enterprise has set no shift calendar yet (trustmeter tx shift-calendar).",
  shift_entry: "Enter shift data (signed to the chain)", shift_output_title: "Shift output", shift_calendar_title: "Shift calendar",
  products: "Products and output", product: "Product", quantity: "Quantity", note: "Note", add_product: "+ Add a product", remove: "Remove",
  team_by_rotation: "By the rotation", submit_tx: "Sign and submit to the chain", tx_submitting: "Signing, submitting and waiting for the block…",
  tx_finalized: "On the chain: block {height}, transaction {hash} ({ms} ms)", tx_refused: "The chain refused the transaction", tx_refused_block: "The block rejected the transaction",
  tx_not_finalized: "Submitted, but not finalized within the wait",
  hint_output: "Shifts that have started, back to {from} ({days} days); submitting a shift again corrects it (every revision is kept).",
  hint_calendar: "A new version applies from its first day, which must come after the last day with output recorded ({back} days back to {ahead} days ahead); a shift ending at or before its start crosses midnight and ends the next day.",
  hint_calendar_current: "The version in force since {from} is filled in.",
  effective_from: "Effective from", shifts_legend: "Shifts (at most 8, never overlapping)", start: "Start", end: "End", crosses_midnight: "Crosses midnight",
  next_day: "ends next day", add_shift: "+ Add a shift", teams_input: "Teams (comma separated, at most 32)", rotation: "Rotation",
  rotation_start: "Cycle starts", rotation_days: "Days in the cycle", rotation_off: "Off", cycle_day: "Day of the cycle", rotation_cell: "Day {day} {shift}",
  err_quantity: "A quantity is a number of at least 0 with at most 6 decimals", err_quantity_large: "The quantity is too large", err_name_long: "{what} “{name}” is longer than {max} bytes",
  err_name: "{what} “{name}” must not be empty, hold control characters or surrounding blanks", err_effective_from: "Give the first day", err_shift_count: "A calendar has 1 to {max} shifts",
  err_team_count: "At most {max} teams", err_shift_time: "Shift “{name}” needs a start and an end", err_shift_24h: "Shift “{name}” lasts 24 hours, so it must be the only one",
  err_twice: "“{name}” is named twice", err_overlap: "Shifts {a} and {b} overlap", err_rotation_start: "Give the day the rotation's cycle starts",
  err_rotation_days: "A rotation's cycle has 1 to {max} days", err_rotation_teams: "A rotation needs teams", err_rotation_day: "Day {day} of the rotation names no valid team",
  err_day: "Give the day", err_product_count: "Give 1 to {max} products", err_product_long: "Product names and units are at most {max} bytes",
  err_product: "Product “{name}” needs a name and a unit", err_note: "The note is at most {max} bytes",
  warn_backdate: "Before {from}: the chain takes output {days} days back at most and will refuse it.", warn_no_shift: "The calendar in force on {day} has no such shift ({shifts}).",
  warn_not_started: "The shift has not started: the chain will refuse it.", warn_team: "Team “{team}” is not in that day's calendar.",
  warn_calendar_window: "The first day must be {back} days back to {ahead} days ahead: the chain will refuse it.", warn_calendar_before: "Before the current version's first day {from}: the chain will refuse it.",
  warn_calendar_output: "{day} has output recorded: a new calendar takes effect after it; the chain will refuse it.",
  balance_title: "Master–sub-meter balance", balance_master: "Master meter", balance_sub: "Sub-meter", balance_subs: "Sub-meters", balance_master_amount: "Master",
  balance_subs_sum: "Σ sub-meters", balance_difference: "Difference", balance_loss: "Loss rate (%)", balance_sub_count: "Sub-meters",
  balance_negative: "sub-meters exceed the master", balance_above: "loss above", balance_incomplete: "incomplete data", balance_limits: "Flag above",
  balance_none: "The enterprise has no master meters: name a master when registering a meter (trustmeter tx register-meter --master).",
};

/** Energy kinds' names, as the API spells the kinds. */
const ENERGY = {
  zh: { electricity: "电力", water: "水", natural_gas: "天然气", steam: "蒸汽", compressed_air: "压缩空气", coal: "原煤", diesel: "柴油", gasoline: "汽油", heat: "热力", lpg: "液化石油气", fuel_oil: "燃料油" },
  en: { electricity: "Electricity", water: "Water", natural_gas: "Natural gas", steam: "Steam", compressed_air: "Compressed air", coal: "Coal", diesel: "Diesel", gasoline: "Gasoline", heat: "Heat", lpg: "LPG", fuel_oil: "Fuel oil" },
};

let lang = (typeof localStorage !== "undefined" && localStorage.getItem("tm.lang")) || "zh";

/** The current language: "zh" or "en". */
export const currentLang = () => lang;

/** Switches the language (the caller re-renders). */
export function setLang(l) {
  lang = l === "en" ? "en" : "zh";
  localStorage.setItem("tm.lang", lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}

/** The string `key` in the current language (the key itself if it has none: visible in tests). */
export function t(key) {
  const d = lang === "en" ? EN : ZH;
  return d[key] ?? ZH[key] ?? key;
}

/** An energy kind's name. */
export function energyName(kind) {
  return ENERGY[lang][kind] ?? kind;
}

/** Every key has both languages (checked by the unit tests). */
export const dictionaries = { ZH, EN };
