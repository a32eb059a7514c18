// Allure 3 configuration: one self-contained HTML file from reports/allure-results.
// Usage (README): npx --yes allure@3 generate reports/allure-results --config allurerc.mjs
export default {
  name: "DICOMweb conformance",
  output: "reports/allure-report",
  plugins: {
    awesome: {
      options: {
        singleFile: true,
        reportName: "DICOMweb conformance",
        groupBy: ["epic", "feature", "story"],
      },
    },
  },
};
