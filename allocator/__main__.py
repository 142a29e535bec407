from allocator.cli.main import run

run()
