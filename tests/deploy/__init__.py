"""Deployment checks: build, check-deploy, s.yaml schema (helpers in deploy_fixture.py)."""
