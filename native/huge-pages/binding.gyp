{
  "targets": [
    {
      "target_name": "qt_huge_pages",
      "sources": ["huge-pages.cc"],
      "cflags_cc": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
