"""Repayments, payoff quotes, settlement and receipts (owned by the repayments feature)."""

from django.urls import path

urlpatterns: list = []
