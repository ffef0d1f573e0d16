"""The console's own-password page (/admin/password): linked from the header, refusals in Korean
that name the problem, and a change that logs out every other browser of the user."""

from __future__ import annotations

import pytest

from tests.integration.test_console import CSRF, PASSWORD, Console, console, log_in

pytestmark = pytest.mark.integration
__all__ = ["console"]  # the fixture, shared with test_console

NEW = "a new and long passphrase"


async def test_changing_the_password_in_the_console(console: Console) -> None:
    async with console.client() as editor, console.client() as elsewhere:
        csrf = await log_in(editor, "editor@hanbit.go.kr")
        await log_in(elsewhere, "editor@hanbit.go.kr")
        home = await editor.get("/admin/campaigns")
        assert 'href="/admin/password"' in home.text
        form = await editor.get("/admin/password")
        assert form.status_code == 200
        assert "현재 비밀번호" in form.text

        def fields(current: str, new: str, again: str | None = None) -> dict[str, str]:
            return {
                "csrf_token": csrf,
                "current_password": current,
                "new_password": new,
                "new_password_again": new if again is None else again,
            }

        weak = await editor.post("/admin/password", data=fields(PASSWORD, "1029384756"))
        assert weak.status_code == 422
        assert "널리 쓰이는(유출 목록에 있는) 비밀번호입니다" in weak.text
        short = await editor.post("/admin/password", data=fields(PASSWORD, "short"))
        assert "비밀번호는 10자 이상이어야 합니다" in short.text
        mismatch = await editor.post("/admin/password", data=fields(PASSWORD, NEW, NEW + "!"))
        assert "새 비밀번호 두 칸이 서로 다릅니다" in mismatch.text
        wrong = await editor.post("/admin/password", data=fields("not the password", NEW))
        assert "현재 비밀번호가 올바르지 않습니다" in wrong.text
        assert (await elsewhere.get("/admin/campaigns")).status_code == 200

        done = await editor.post("/admin/password", data=fields(PASSWORD, NEW))
        assert done.status_code == 200, done.text
        assert 'id="password-changed"' in done.text
        assert (await editor.get("/admin/campaigns")).status_code == 200  # on its new session
        assert (await elsewhere.get("/admin/campaigns")).status_code == 303  # logged out
        assert CSRF.search((await editor.get("/admin/campaigns")).text) is not None
