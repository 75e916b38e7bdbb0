"""Where results go: PDFs and error logs stored as content next to the job."""
