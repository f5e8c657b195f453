from tests.support.nojar import serve_without_cookie_jar

serve = serve_without_cookie_jar  # each request carries only the cookies the test chose
