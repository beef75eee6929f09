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
  key_file: "账户密钥文件", passphrase: "口令（如已加密）", sign_in_intro: "用您的账户密钥登录：密钥只在本页内存中使用，为每个请求签名（RFC 9421），从不发送给服务器，刷新页面即需重新登录。",
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
  key_file: "Account key file", passphrase: "Passphrase (if encrypted)", sign_in_intro: "Sign in with your account key: it is used only in this page's memory to sign each request (RFC 9421), never sent to the server; a reload signs you out.",
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
